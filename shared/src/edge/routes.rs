//! Matching a request to one of a function's routes. API Gateway has
//! already sent the function only its own routes (see template.yaml); each
//! function names them in a `Route` enum parsed from the method and the
//! path's segments, so a handler reads as its route table.

use super::errors::ApiError;

/// The path's segments: `/accounts/a1/refresh/` is
/// `["accounts", "a1", "refresh"]`.
pub fn segments(path: &str) -> Vec<&str> {
    path.trim_matches('/').split('/').collect()
}

/// The answer for a path a function serves with another method (405), or
/// does not serve at all (404).
pub fn unmatched(path_served: bool) -> ApiError {
    if path_served {
        ApiError::method_not_allowed()
    } else {
        ApiError::not_found()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_segments() {
        assert_eq!(
            segments("/accounts/a1/refresh/"),
            ["accounts", "a1", "refresh"]
        );
        assert_eq!(segments("/"), [""]);
        assert_eq!(unmatched(true).status, 405);
        assert_eq!(unmatched(false).status, 404);
    }
}
