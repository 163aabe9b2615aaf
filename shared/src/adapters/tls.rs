//! The TLS configuration of our own HTTPS client (TikTok's API and upload
//! hosts): certificates verified against the Mozilla root store compiled
//! into the binary (`webpki-roots`, already parsed into trust anchors), so a
//! cold start neither reads nor parses the system's certificate files. TLS
//! 1.2 and 1.3 with aws-lc-rs, as reqwest's own default.
//!
//! The AWS SDK keeps its own connector: it takes no prepared TLS
//! configuration, and reads the system's roots once, when its first client
//! is built (see `aws::LazyClient`).

use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore, crypto::aws_lc_rs};

/// A client configuration that verifies servers against the compiled-in
/// roots and sends no client certificate.
pub fn client_config() -> Result<ClientConfig, rustls::Error> {
    let roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    Ok(
        ClientConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    use rustls::{
        ClientConnection, Connection, ServerConfig, ServerConnection, pki_types::ServerName,
    };

    /// Moves every TLS record `from` has to send into `to`, and lets `to`
    /// process them.
    fn pump(from: &mut Connection, to: &mut Connection) -> Result<(), rustls::Error> {
        let io = |e: std::io::Error| rustls::Error::General(e.to_string());
        let mut wire = Vec::new();
        while from.wants_write() {
            from.write_tls(&mut wire).map_err(io)?;
        }
        let mut reader = wire.as_slice();
        while !reader.is_empty() {
            to.read_tls(&mut reader).map_err(io)?;
        }
        to.process_new_packets().map(|_| ())
    }

    /// A TLS handshake in memory between our client configuration and a
    /// server presenting `server`'s certificate; the client's verdict.
    fn handshake(server: ServerConfig, name: &str) -> Result<(), rustls::Error> {
        let config = Arc::new(client_config()?);
        let name = ServerName::try_from(name.to_owned())
            .map_err(|_| rustls::Error::General("name".into()))?;
        let mut client = Connection::Client(ClientConnection::new(config, name)?);
        let mut server = Connection::Server(ServerConnection::new(Arc::new(server))?);
        for _ in 0..10 {
            // The server's own complaints reach the client as alerts.
            let _ = pump(&mut client, &mut server);
            pump(&mut server, &mut client)?;
            if !client.is_handshaking() {
                return Ok(());
            }
        }
        Err(rustls::Error::General("no verdict".into()))
    }

    fn server_with(cert: rcgen::CertifiedKey<rcgen::KeyPair>) -> ServerConfig {
        let key = rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der())
            .expect("key");
        ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert.der().clone()], key)
            .expect("server config")
    }

    #[test]
    fn a_server_whose_certificate_no_root_vouches_for_is_refused() {
        assert!(webpki_roots::TLS_SERVER_ROOTS.len() > 100);
        let cert = rcgen::generate_simple_self_signed(vec!["open.tiktokapis.com".to_owned()])
            .expect("a self-signed certificate");
        let verdict = handshake(server_with(cert), "open.tiktokapis.com");
        assert!(
            matches!(
                verdict,
                Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::UnknownIssuer
                ))
            ),
            "{verdict:?}"
        );
    }
}
