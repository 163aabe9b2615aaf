//! Tools around the code, used by the local stack, the tests and the
//! benchmarks alike: provisioning the emulator from template.yaml's own
//! definitions, a fault-injecting proxy in front of it, seeding accounts,
//! generated videos, and what the benchmark drivers (`src/bin`) share.

pub mod aws_proxy;
pub mod bench;
pub mod prices;
pub mod provision;
pub mod seed;
pub mod template;

use shared::env::Env;

pub use provision::{Clients, Provisioned};

/// The moto server in use: `AWS_ENDPOINT_URL`, or the local stack's.
pub fn aws_endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:5000".into())
}

/// The AWS part of a function's environment, pointed at the emulator at
/// `endpoint` with its test credentials.
pub fn emulator_env(endpoint: &str) -> Env {
    Env::from_pairs([
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ])
}

/// `size` bytes of a 3-second MP4: see [`generated_mp4_lasting`].
pub fn generated_mp4(size: usize) -> Vec<u8> {
    generated_mp4_lasting(size, 3)
}

/// `size` bytes of an MP4 whose `moov/mvhd` says it lasts `seconds`: an
/// `ftyp` box, the `moov`, then an `mdat` that runs to the end of the file
/// (size 0), filled with a pattern that is not the same from chunk to chunk.
/// Whatever is appended stays inside the `mdat`.
pub fn generated_mp4_lasting(size: usize, seconds: u32) -> Vec<u8> {
    let mut data = Vec::with_capacity(size);
    data.extend_from_slice(&[0, 0, 0, 0x18]);
    data.extend_from_slice(b"ftypisom\0\0\x02\0isomiso2");
    let mut mvhd = [0u8; 100];
    mvhd[12..16].copy_from_slice(&1000u32.to_be_bytes());
    mvhd[16..20].copy_from_slice(&seconds.saturating_mul(1000).to_be_bytes());
    data.extend_from_slice(&116u32.to_be_bytes());
    data.extend_from_slice(b"moov");
    data.extend_from_slice(&108u32.to_be_bytes());
    data.extend_from_slice(b"mvhd");
    data.extend_from_slice(&mvhd);
    data.extend_from_slice(&0u32.to_be_bytes());
    data.extend_from_slice(b"mdat");
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while data.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    data.truncate(size);
    data
}
