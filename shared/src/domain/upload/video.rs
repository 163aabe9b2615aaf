//! The video containers TikTok accepts, and how to recognise them by their
//! first bytes.

/// The video containers TikTok accepts (tiktok-api.md §3.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VideoType {
    Mp4,
    Mov,
    WebM,
}

impl VideoType {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Mp4 => "video/mp4",
            Self::Mov => "video/quicktime",
            Self::WebM => "video/webm",
        }
    }

    pub fn from_content_type(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "video/mp4" => Some(Self::Mp4),
            "video/quicktime" => Some(Self::Mov),
            "video/webm" => Some(Self::WebM),
            _ => None,
        }
    }

    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            Self::Mp4 => &["mp4", "m4v"],
            Self::Mov => &["mov", "qt"],
            Self::WebM => &["webm"],
        }
    }

    /// Whether `head` (the object's first bytes, at least 64 when the object
    /// is that long) is a file of this type.
    pub fn matches(self, head: &[u8]) -> bool {
        matches!(
            (self, sniff(head)),
            (Self::Mp4, Sniffed::Mp4) | (Self::Mov, Sniffed::Mov) | (Self::WebM, Sniffed::WebM)
        )
    }
}

/// What a file's first bytes say it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sniffed {
    Mp4,
    Mov,
    WebM,
    Matroska,
    Avi,
    Unknown,
}

impl Sniffed {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Mp4 => "MP4",
            Self::Mov => "QuickTime (MOV)",
            Self::WebM => "WebM",
            Self::Matroska => "Matroska (MKV)",
            Self::Avi => "AVI",
            Self::Unknown => "not a recognised video",
        }
    }
}

/// How many leading bytes [`sniff`] needs.
pub const SNIFF_BYTES: usize = 64;

/// Recognises a video container by its first bytes: ISO-BMFF (`ftyp`, with
/// the `qt  ` brand for QuickTime), classic QuickTime atoms, EBML with its
/// DocType (`webm` or `matroska`), and RIFF AVI.
pub fn sniff(head: &[u8]) -> Sniffed {
    if head.len() >= 12 && &head[0..4] == b"RIFF" && &head[8..12] == b"AVI " {
        return Sniffed::Avi;
    }
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        return if &head[8..12] == b"qt  " {
            Sniffed::Mov
        } else {
            Sniffed::Mp4
        };
    }
    if head.len() >= 8 && matches!(&head[4..8], b"moov" | b"mdat" | b"wide" | b"free" | b"pnot") {
        return Sniffed::Mov;
    }
    if head.len() >= 4 && head[0..4] == [0x1A, 0x45, 0xDF, 0xA3] {
        // The EBML header's DocType element (0x42 0x82) names the flavour.
        let window = &head[4..head.len().min(SNIFF_BYTES)];
        if let Some(at) = window.windows(2).position(|w| w == [0x42, 0x82]) {
            let rest = &window[at + 2..];
            if rest.len() > 1 {
                let doc = &rest[1..];
                if doc.starts_with(b"webm") {
                    return Sniffed::WebM;
                }
                if doc.starts_with(b"matroska") {
                    return Sniffed::Matroska;
                }
            }
        }
        return Sniffed::Unknown;
    }
    Sniffed::Unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing_recognises_containers() {
        let ftyp = |brand: &[u8; 4]| {
            let mut v = vec![0, 0, 0, 0x20];
            v.extend_from_slice(b"ftyp");
            v.extend_from_slice(brand);
            v.resize(64, 0);
            v
        };
        assert_eq!(sniff(&ftyp(b"isom")), Sniffed::Mp4);
        assert_eq!(sniff(&ftyp(b"qt  ")), Sniffed::Mov);
        let ebml = |doc: &[u8]| {
            let mut v = vec![
                0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86, 0x81, 0x01, 0x42, 0x82,
            ];
            v.push(0x80 | doc.len() as u8);
            v.extend_from_slice(doc);
            v
        };
        assert_eq!(sniff(&ebml(b"webm")), Sniffed::WebM);
        assert_eq!(sniff(&ebml(b"matroska")), Sniffed::Matroska);
        assert_eq!(sniff(b"RIFF\0\0\0\0AVI LIST"), Sniffed::Avi);
        assert_eq!(sniff(b"hello world, not a video"), Sniffed::Unknown);
        assert_eq!(sniff(b""), Sniffed::Unknown);
        assert!(VideoType::Mp4.matches(&ftyp(b"mp42")));
        assert!(!VideoType::Mp4.matches(&ftyp(b"qt  ")));
        assert!(!VideoType::WebM.matches(&ftyp(b"isom")));
    }
}
