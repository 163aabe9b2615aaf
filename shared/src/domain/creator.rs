//! What a creator may post now, as TikTok's creator info says (tiktok-api.md
//! §3.1), in our terms: the answer of `GET /accounts/{id}/creator-info`, and
//! which of TikTok's answers mean "not now" rather than a failure.

use serde::{Deserialize, Serialize};

use crate::{
    domain::upload::{InvalidUpload, PostSettings, PrivacyLevel},
    env::{ConfigError, Env},
};

/// How long a creator's info is reused before TikTok is asked again: TikTok
/// allows 20 calls a minute per token, and a person choosing a post's
/// settings asks several times in that minute.
pub const CREATOR_INFO_FRESH_SECONDS: i64 = 60;

/// How long a kept creator info still judges a post's settings when the
/// post is made (the person chose them from it); the publish asks TikTok
/// again before the init either way.
pub const CREATOR_INFO_VALID_SECONDS: i64 = 600;

/// Whether TikTok has audited the app's posting (`TIKTOK_APP_AUDITED`,
/// false by default). Until it has, TikTok takes only private posts
/// (`SELF_ONLY`), from at most 5 creators a day (tiktok-api.md §3.9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppAudit {
    Audited,
    Unaudited,
}

impl AppAudit {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(if env.flag("TIKTOK_APP_AUDITED", false)? {
            Self::Audited
        } else {
            Self::Unaudited
        })
    }
}

/// What an unaudited app tells the person choosing a post's privacy.
pub const UNAUDITED_NOTE: &str = "The TikTok app is not audited yet: TikTok accepts only private \
     posts (Only me), from at most 5 creators a day, until it is.";

/// A creator's posting options (never a token).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatorView {
    pub account_id: String,
    pub nickname: Option<String>,
    pub username: Option<String>,
    pub avatar_url: Option<String>,
    pub privacy_level_options: Vec<String>,
    pub comment_disabled: bool,
    pub duet_disabled: bool,
    pub stitch_disabled: bool,
    pub max_video_post_duration_sec: Option<u32>,
    /// False when TikTok says the creator cannot post now (`reason` says why).
    pub can_post: bool,
    pub reason: Option<String>,
    pub fetched_at: String,
    /// Whether TikTok has audited the app (set by [`CreatorView::offered`]);
    /// when not, `note` says what that means and `privacy_level_options`
    /// holds `SELF_ONLY` alone.
    pub app_audited: bool,
    pub note: Option<String>,
}

impl CreatorView {
    /// The creator's options as this app may offer them: an unaudited app
    /// offers `SELF_ONLY` alone, and says why.
    pub fn offered(mut self, audit: AppAudit) -> Self {
        self.app_audited = audit == AppAudit::Audited;
        if audit == AppAudit::Unaudited {
            self.privacy_level_options
                .retain(|o| o == PrivacyLevel::SelfOnly.as_str());
            self.note = Some(UNAUDITED_NOTE.to_owned());
        }
        self
    }
}

/// A direct post's settings against what the app may post (its audit) and,
/// when known, what the creator may post now: the privacy level must be one
/// the creator is offered, and an interaction the creator turned off in
/// their TikTok settings cannot be turned on.
pub fn check_settings(
    post: &PostSettings,
    audit: AppAudit,
    creator: Option<&CreatorView>,
) -> Result<(), InvalidUpload> {
    let Some(privacy) = post.privacy_level else {
        return Ok(());
    };
    if audit == AppAudit::Unaudited && privacy != PrivacyLevel::SelfOnly {
        return Err(InvalidUpload::UnauditedPrivateOnly);
    }
    if let Some(creator) = creator.filter(|c| c.can_post)
        && !creator
            .privacy_level_options
            .iter()
            .any(|o| o == privacy.as_str())
    {
        return Err(InvalidUpload::PrivacyNotAllowed {
            offered: creator.privacy_level_options.join(", "),
            chosen: privacy.as_str().to_owned(),
        });
    }
    if let Some(creator) = creator {
        for (name, turned_off, allowed) in [
            ("comment", creator.comment_disabled, !post.disable_comment),
            ("duet", creator.duet_disabled, !post.disable_duet),
            ("stitch", creator.stitch_disabled, !post.disable_stitch),
        ] {
            if turned_off && allowed {
                return Err(InvalidUpload::InteractionDisabled(name));
            }
        }
    }
    Ok(())
}

/// The settings a post is initialised with: an interaction the creator has
/// turned off is never turned on, whatever the post says.
pub fn respecting_creator(
    post: &PostSettings,
    comment_off: bool,
    duet_off: bool,
    stitch_off: bool,
) -> PostSettings {
    PostSettings {
        disable_comment: post.disable_comment || comment_off,
        disable_duet: post.disable_duet || duet_off,
        disable_stitch: post.disable_stitch || stitch_off,
        ..post.clone()
    }
}

/// TikTok's creator-info errors that mean the creator cannot post now (sent
/// with HTTP 200, "intentional"), and what we tell the person.
pub fn posting_refusal(code: &str) -> Option<&'static str> {
    match code {
        "spam_risk_too_many_posts" => {
            Some("spam_risk_too_many_posts: the creator has reached today's posting cap at TikTok")
        }
        "spam_risk_user_banned_from_posting" => {
            Some("spam_risk_user_banned_from_posting: TikTok does not let this creator post")
        }
        "reached_active_user_cap" => Some(
            "reached_active_user_cap: the app has reached TikTok's daily cap of posting creators",
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creator(options: &[&str]) -> CreatorView {
        CreatorView {
            account_id: "tt-1".into(),
            nickname: Some("Creator".into()),
            username: None,
            avatar_url: None,
            privacy_level_options: options.iter().map(|o| (*o).to_owned()).collect(),
            comment_disabled: false,
            duet_disabled: false,
            stitch_disabled: false,
            max_video_post_duration_sec: Some(300),
            can_post: true,
            reason: None,
            fetched_at: "2026-12-02T00:00:00Z".into(),
            app_audited: true,
            note: None,
        }
    }

    fn post(privacy: Option<PrivacyLevel>) -> PostSettings {
        PostSettings {
            privacy_level: privacy,
            ..PostSettings::default()
        }
    }

    #[test]
    fn an_unaudited_app_offers_and_accepts_only_private_posts() {
        use PrivacyLevel::*;
        let all = ["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"];
        let offered = creator(&all).offered(AppAudit::Unaudited);
        assert_eq!(offered.privacy_level_options, ["SELF_ONLY"]);
        assert!(!offered.app_audited && offered.note.is_some());
        let audited = creator(&all).offered(AppAudit::Audited);
        assert_eq!(audited.privacy_level_options, all);
        assert!(audited.app_audited && audited.note.is_none());
        for privacy in [PublicToEveryone, MutualFollowFriends, FollowerOfCreator] {
            assert_eq!(
                check_settings(&post(Some(privacy)), AppAudit::Unaudited, None),
                Err(InvalidUpload::UnauditedPrivateOnly)
            );
            assert_eq!(
                check_settings(&post(Some(privacy)), AppAudit::Audited, None),
                Ok(())
            );
        }
        assert_eq!(
            check_settings(&post(Some(SelfOnly)), AppAudit::Unaudited, None),
            Ok(())
        );
        assert_eq!(
            check_settings(&post(None), AppAudit::Unaudited, None),
            Ok(())
        );
    }

    #[test]
    fn an_interaction_the_creator_turned_off_cannot_be_turned_on() {
        let creator = CreatorView {
            comment_disabled: true,
            stitch_disabled: true,
            ..creator(&["SELF_ONLY"])
        };
        let allow_all = post(Some(PrivacyLevel::SelfOnly));
        assert_eq!(
            check_settings(&allow_all, AppAudit::Audited, Some(&creator)),
            Err(InvalidUpload::InteractionDisabled("comment"))
        );
        let off = PostSettings {
            disable_comment: true,
            disable_stitch: true,
            ..allow_all.clone()
        };
        assert_eq!(
            check_settings(&off, AppAudit::Audited, Some(&creator)),
            Ok(())
        );
        assert_eq!(
            check_settings(
                &PostSettings {
                    disable_stitch: false,
                    ..off.clone()
                },
                AppAudit::Audited,
                Some(&creator)
            )
            .unwrap_err()
            .code(),
            "interaction_disabled_by_creator"
        );
        // Unknown creator: nothing to hold it to.
        assert_eq!(check_settings(&allow_all, AppAudit::Audited, None), Ok(()));
        let sent = respecting_creator(&allow_all, true, false, true);
        assert!(sent.disable_comment && !sent.disable_duet && sent.disable_stitch);
        assert!(
            respecting_creator(&off, false, false, false).disable_comment,
            "never turned on"
        );
    }

    #[test]
    fn the_privacy_level_must_be_one_the_creator_is_offered_when_known() {
        use PrivacyLevel::*;
        let private_account =
            creator(&["FOLLOWER_OF_CREATOR", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"]);
        let refused = check_settings(
            &post(Some(PublicToEveryone)),
            AppAudit::Audited,
            Some(&private_account),
        );
        assert!(
            matches!(refused, Err(InvalidUpload::PrivacyNotAllowed { .. })),
            "{refused:?}"
        );
        assert_eq!(refused.unwrap_err().code(), "privacy_level_not_allowed");
        assert_eq!(
            check_settings(
                &post(Some(FollowerOfCreator)),
                AppAudit::Audited,
                Some(&private_account)
            ),
            Ok(())
        );
        // A creator TikTok stops from posting offers nothing: the publish says so later.
        let capped = CreatorView {
            can_post: false,
            privacy_level_options: vec![],
            ..creator(&[])
        };
        assert_eq!(
            check_settings(&post(Some(SelfOnly)), AppAudit::Audited, Some(&capped)),
            Ok(())
        );
    }

    #[test]
    fn only_tiktoks_posting_caps_and_bans_mean_not_now() {
        for code in [
            "spam_risk_too_many_posts",
            "spam_risk_user_banned_from_posting",
            "reached_active_user_cap",
        ] {
            assert!(
                posting_refusal(code).is_some_and(|r| r.starts_with(code)),
                "{code}"
            );
        }
        for code in [
            "access_token_invalid",
            "rate_limit_exceeded",
            "internal_error",
            "ok",
        ] {
            assert_eq!(posting_refusal(code), None, "{code}");
        }
    }
}
