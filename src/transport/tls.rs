//! TLS for wss:// with rustls: the options a client or a server is configured
//! with (certificates and keys parsed from PEM when they are set, so mistakes
//! show at once), the rustls configs built from them, and TLS failures turned
//! into sentences that say what to fix.

use super::server_certs::{sni_name, ServerCerts};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::sign::CertifiedKey;
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// The crypto provider every config uses (ring).
fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(ring::default_provider()))
        .clone()
}

/// Reads a PEM file, with the file named in the error.
pub fn read_file(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {what} file {}: {e}", path.display()))
}

/// Every certificate in `pem`; an error when there is none or one is malformed.
pub fn certificates_from_pem(
    pem: &[u8],
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{what}: malformed PEM ({e})"))?;
    if certs.is_empty() {
        return Err(format!(
            "{what}: no certificate found (expected a PEM 'BEGIN CERTIFICATE' block)"
        ));
    }
    Ok(certs)
}

/// A certificate chain (leaf first) with its private key, checked to match.
#[derive(Clone)]
pub struct Identity {
    /// The chain with the key loaded for signing, as a server presents it.
    certified: Arc<CertifiedKey>,
    /// The key itself, as a client's certificate needs it.
    key: Arc<PrivateKeyDer<'static>>,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Identity({} certificate(s), key hidden)",
            self.certified.cert.len()
        )
    }
}

impl Identity {
    /// Parses a PEM certificate chain and a PEM private key (PKCS#8, PKCS#1 or
    /// SEC1) and checks the key belongs to the first certificate.
    pub fn from_pem(chain: &[u8], key: &[u8]) -> Result<Identity, String> {
        let chain = certificates_from_pem(chain, "certificate")?;
        let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "private key: no key found (expected a PEM 'BEGIN ... PRIVATE KEY' block)"
                    .to_string()
            }
            e => format!("private key: malformed PEM ({e})"),
        })?;
        let signer = provider()
            .key_provider
            .load_private_key(key.clone_key())
            .map_err(|e| format!("private key: unusable ({e})"))?;
        let certified = CertifiedKey::new(chain, signer);
        certified
            .keys_match()
            .map_err(|_| "the private key does not belong to the certificate".to_string())?;
        Ok(Identity {
            certified: Arc::new(certified),
            key: Arc::new(key),
        })
    }

    /// Reads [`Identity::from_pem`]'s inputs from two files.
    pub fn from_files(chain: &Path, key: &Path) -> Result<Identity, String> {
        Identity::from_pem(
            &read_file(chain, "certificate")?,
            &read_file(key, "private key")?,
        )
    }

    fn parts(&self) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        (self.certified.cert.clone(), self.key.clone_key())
    }

    /// The chain and its signing key, as a server presents them.
    pub(crate) fn certified(&self) -> &Arc<CertifiedKey> {
        &self.certified
    }
}

/// TLS options of a client, used for wss:// URLs.
#[derive(Debug, Clone)]
pub struct ClientTls {
    /// Trust the system's certificate store (default true).
    pub system_roots: bool,
    /// Extra trusted CA certificates.
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// Check the server's certificate (default true). False accepts any
    /// certificate for any name: only for tests against self-signed servers.
    pub verify: bool,
    /// A client certificate for servers that ask for one (mutual TLS).
    pub identity: Option<Identity>,
}

impl Default for ClientTls {
    fn default() -> Self {
        ClientTls {
            system_roots: true,
            extra_roots: Vec::new(),
            verify: true,
            identity: None,
        }
    }
}

/// The system's trusted CA certificates, loaded once (Debian: /etc/ssl/certs,
/// or `SSL_CERT_FILE` / `SSL_CERT_DIR`).
fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| rustls_native_certs::load_native_certs().certs)
}

impl ClientTls {
    /// The rustls client config for these options.
    pub fn build(&self) -> Result<Arc<rustls::ClientConfig>, String> {
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?;
        let builder = if self.verify {
            let mut roots = RootCertStore::empty();
            if self.system_roots {
                roots.add_parsable_certificates(system_roots().iter().cloned());
            }
            for cert in &self.extra_roots {
                roots
                    .add(cert.clone())
                    .map_err(|e| format!("CA certificate: unusable ({e})"))?;
            }
            if roots.is_empty() {
                return Err(
                    "no trusted CA certificates: the system store is empty or disabled \
                            (install ca-certificates) and no CA file was given"
                        .into(),
                );
            }
            builder.with_root_certificates(roots)
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate))
        };
        let mut config = match &self.identity {
            None => builder.with_no_client_auth(),
            Some(id) => {
                let (chain, key) = id.parts();
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| format!("client certificate: {e}"))?
            }
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// TLS options of a server. The server speaks TLS when `identity` is set.
#[derive(Debug, Clone, Default)]
pub struct ServerTls {
    /// The server's certificate chain and key: presented to clients that send
    /// no server name (SNI), or one with no certificate in `sni`.
    pub identity: Option<Identity>,
    /// Certificates by the server name clients ask for (SNI); fill it with
    /// [`ServerTls::add_sni`], which checks the names.
    pub sni: BTreeMap<String, Identity>,
    /// CAs whose client certificates are accepted; empty: no client certificates asked for.
    pub client_roots: Vec<CertificateDer<'static>>,
    /// With `client_roots`: true lets clients without a certificate in (those
    /// that present one must still present a valid one); false (the default)
    /// refuses them.
    pub client_cert_optional: bool,
}

/// What a TLS server runs with: the rustls config, and the certificates it
/// presents, which stay replaceable while it runs.
pub struct ServerTlsSetup {
    /// The config handshakes are made with.
    pub config: Arc<rustls::ServerConfig>,
    /// The certificates behind `config`'s certificate resolver.
    pub certs: Arc<ServerCerts>,
}

impl ServerTls {
    /// Presents `identity` to clients asking for `hostname` (SNI), replacing
    /// any certificate given for that name before. An error when `hostname`
    /// is not a DNS name or the certificate is not valid for it.
    pub fn add_sni(&mut self, hostname: &str, identity: Identity) -> Result<(), String> {
        let name = sni_name(hostname, &identity)?;
        self.sni.insert(name, identity);
        Ok(())
    }

    /// The rustls server config, or `None` when TLS is not configured.
    pub fn build(&self) -> Result<Option<ServerTlsSetup>, String> {
        let Some(identity) = &self.identity else {
            if !self.client_roots.is_empty() {
                return Err("a client CA was set but no server certificate and key".into());
            }
            if !self.sni.is_empty() {
                return Err(
                    "certificates for server names (SNI) were set but no default \
                            server certificate and key (for clients that send no name)"
                        .into(),
                );
            }
            return Ok(None);
        };
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?;
        let builder = if self.client_roots.is_empty() {
            builder.with_no_client_auth()
        } else {
            let mut roots = RootCertStore::empty();
            for cert in &self.client_roots {
                roots
                    .add(cert.clone())
                    .map_err(|e| format!("client CA certificate: unusable ({e})"))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
            let verifier = if self.client_cert_optional {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(
                verifier
                    .build()
                    .map_err(|e| format!("client certificate verification: {e}"))?,
            )
        };
        let certs = Arc::new(ServerCerts::new(identity, &self.sni)?);
        let config = builder.with_cert_resolver(certs.clone());
        Ok(Some(ServerTlsSetup {
            config: Arc::new(config),
            certs,
        }))
    }
}

/// The name the server's certificate must carry: a DNS name or an IP address.
pub fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(host.to_string())
        .map_err(|_| format!("'{host}' is not a valid TLS server name"))
}

/// Explains, for a client connecting to `host`, an I/O error that came from
/// TLS (a refused certificate, an alert, a peer not speaking TLS). `None` when
/// `error` is not a TLS error.
pub fn describe(error: &std::io::Error, host: &str) -> Option<String> {
    let tls = error.get_ref()?.downcast_ref::<rustls::Error>()?;
    Some(match tls {
        rustls::Error::InvalidCertificate(e) => describe_certificate(e, host),
        rustls::Error::AlertReceived(alert) => format!(
            "the server refused the TLS handshake ({alert:?} alert){}",
            match alert {
                rustls::AlertDescription::CertificateRequired
                | rustls::AlertDescription::BadCertificate
                | rustls::AlertDescription::UnknownCA
                | rustls::AlertDescription::HandshakeFailure =>
                    ": it may require a client certificate it trusts",
                _ => "",
            }
        ),
        rustls::Error::InvalidMessage(_) => {
            "the server did not answer with TLS (is it a plain ws:// server?)".to_string()
        }
        other => format!("TLS failed: {other}"),
    })
}

fn describe_certificate(error: &CertificateError, host: &str) -> String {
    let why = match error {
        CertificateError::UnknownIssuer => {
            "it is not signed by a trusted CA (give its CA with a CA file)".to_string()
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            format!("it is not valid for the name '{host}'")
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "it has expired".to_string()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "it is not valid yet".to_string()
        }
        CertificateError::Revoked => "it has been revoked".to_string(),
        other => format!("{other:?}"),
    };
    format!("the server's certificate was refused: {why}")
}

/// The verifier behind `verify = false`: every certificate is accepted, but the
/// handshake signatures are still checked, so the connection is at least
/// encrypted to whoever holds the presented key.
#[derive(Debug)]
struct AcceptAnyCertificate;

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}
