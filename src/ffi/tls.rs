//! TLS options of servers and clients: certificates, keys and trusted CAs as
//! PEM files or PEM in memory. Each is parsed when it is set, so a wrong file
//! is reported by the setter (`WS_ERR_TLS`, with the reason in the last error).
//! A running server's certificates can be replaced (`ws_server_reload_tls_*`).

use super::config::{with, ws_client_config, ws_server_config};
use super::handle::handle;
use super::server::ws_server;
use super::status::{guard_status, ws_status, Failure, WS_ERR_BAD_STATE, WS_ERR_TLS};
use super::{bytes, text};
use crate::transport::tls::{certificates_from_pem, read_file, Identity};
use rustls::pki_types::CertificateDer;
use std::ffi::{c_char, c_int};
use std::path::Path;

fn tls_failure(message: String) -> Failure {
    Failure::new(WS_ERR_TLS, message)
}

/// CA certificates from a PEM file.
unsafe fn cas_from_file(path: *const c_char) -> Result<Vec<CertificateDer<'static>>, Failure> {
    let path = text(path, "path")?;
    let pem = read_file(Path::new(path), "CA").map_err(tls_failure)?;
    certificates_from_pem(&pem, &format!("CA file {path}")).map_err(tls_failure)
}

/// CA certificates from PEM in memory.
unsafe fn cas_from_pem(
    pem: *const u8,
    len: usize,
) -> Result<Vec<CertificateDer<'static>>, Failure> {
    certificates_from_pem(bytes(pem, len)?, "CA PEM").map_err(tls_failure)
}

/// A certificate chain and key from two PEM files.
unsafe fn identity_from_files(
    cert: *const c_char,
    key: *const c_char,
) -> Result<Identity, Failure> {
    let cert = text(cert, "certificate path")?;
    let key = text(key, "key path")?;
    Identity::from_files(Path::new(cert), Path::new(key)).map_err(tls_failure)
}

/// A certificate chain and key from PEM in memory.
unsafe fn identity_from_pem(
    cert: *const u8,
    cert_len: usize,
    key: *const u8,
    key_len: usize,
) -> Result<Identity, Failure> {
    Identity::from_pem(bytes(cert, cert_len)?, bytes(key, key_len)?).map_err(tls_failure)
}

/// Makes the server speak TLS only (wss://, https://) with the certificate
/// chain (leaf first) and private key (PKCS#8, PKCS#1 or SEC1) in these PEM
/// files. `WS_ERR_TLS` when a file is unreadable, holds no certificate or key,
/// or the key does not belong to the certificate.
#[no_mangle]
pub unsafe extern "C" fn ws_server_config_set_tls_cert_file(
    cfg: *mut ws_server_config,
    cert_file: *const c_char,
    key_file: *const c_char,
) -> ws_status {
    with(cfg, |c| {
        c.inner.tls.identity = Some(identity_from_files(cert_file, key_file)?);
        Ok(())
    })
}

/// As `ws_server_config_set_tls_cert_file`, with the PEM text in memory.
#[no_mangle]
pub unsafe extern "C" fn ws_server_config_set_tls_cert_pem(
    cfg: *mut ws_server_config,
    cert_pem: *const u8,
    cert_len: usize,
    key_pem: *const u8,
    key_len: usize,
) -> ws_status {
    with(cfg, |c| {
        c.inner.tls.identity = Some(identity_from_pem(cert_pem, cert_len, key_pem, key_len)?);
        Ok(())
    })
}

/// Presents the certificate chain and key in these PEM files (as
/// `ws_server_config_set_tls_cert_file` reads them) to clients that ask for
/// `hostname` (SNI, matched without regard to case); other clients, and
/// those that send no name (as clients connecting to an IP address do), get
/// the certificate of `ws_server_config_set_tls_cert_file`, which must be set
/// too. Call once per name; a second call for a name replaces its pair.
/// `WS_ERR_TLS` when a file is unreadable or holds no certificate or key, the
/// key does not belong to the certificate, `hostname` is not a DNS name (an
/// IP address is not), or the certificate is not valid for `hostname`.
#[no_mangle]
pub unsafe extern "C" fn ws_server_config_add_tls_sni_cert_file(
    cfg: *mut ws_server_config,
    hostname: *const c_char,
    cert_file: *const c_char,
    key_file: *const c_char,
) -> ws_status {
    with(cfg, |c| {
        let hostname = text(hostname, "hostname")?;
        let identity = identity_from_files(cert_file, key_file)?;
        c.inner.tls.add_sni(hostname, identity).map_err(tls_failure)
    })
}

/// As `ws_server_config_add_tls_sni_cert_file`, with the PEM text in memory.
#[no_mangle]
pub unsafe extern "C" fn ws_server_config_add_tls_sni_cert_pem(
    cfg: *mut ws_server_config,
    hostname: *const c_char,
    cert_pem: *const u8,
    cert_len: usize,
    key_pem: *const u8,
    key_len: usize,
) -> ws_status {
    with(cfg, |c| {
        let hostname = text(hostname, "hostname")?;
        let identity = identity_from_pem(cert_pem, cert_len, key_pem, key_len)?;
        c.inner.tls.add_sni(hostname, identity).map_err(tls_failure)
    })
}

/// Asks clients for a certificate and accepts those issued by the CAs in this
/// PEM file (mutual TLS); may be called again to add CAs. Clients without an
/// acceptable certificate fail the TLS handshake, unless
/// `ws_server_config_set_tls_client_cert_optional` lets them in.
#[no_mangle]
pub unsafe extern "C" fn ws_server_config_add_tls_client_ca_file(
    cfg: *mut ws_server_config,
    ca_file: *const c_char,
) -> ws_status {
    with(cfg, |c| {
        c.inner.tls.client_roots.extend(cas_from_file(ca_file)?);
        Ok(())
    })
}

/// As `ws_server_config_add_tls_client_ca_file`, with the PEM text in memory.
#[no_mangle]
pub unsafe extern "C" fn ws_server_config_add_tls_client_ca_pem(
    cfg: *mut ws_server_config,
    ca_pem: *const u8,
    len: usize,
) -> ws_status {
    with(cfg, |c| {
        c.inner.tls.client_roots.extend(cas_from_pem(ca_pem, len)?);
        Ok(())
    })
}

/// With client CAs set: non-zero lets clients without a certificate in (those
/// that present one must still present a valid one); 0 (default) refuses them.
#[no_mangle]
pub unsafe extern "C" fn ws_server_config_set_tls_client_cert_optional(
    cfg: *mut ws_server_config,
    optional: c_int,
) -> ws_status {
    with(cfg, |c| {
        c.inner.tls.client_cert_optional = optional != 0;
        Ok(())
    })
}

/// Replaces, on a running server, the certificate for `hostname` (SNI) with
/// `identity` when `hostname` is given, the default certificate otherwise.
unsafe fn reload(
    server: *const ws_server,
    hostname: Option<*const c_char>,
    identity: impl FnOnce() -> Result<Identity, Failure>,
) -> ws_status {
    guard_status(|| {
        let server = &handle(server)?.server;
        let hostname = hostname.map(|h| text(h, "hostname")).transpose()?;
        let identity = identity()?;
        server.reload_tls(hostname, &identity).map_err(|e| {
            let status = if server.is_secure() {
                WS_ERR_TLS
            } else {
                WS_ERR_BAD_STATE
            };
            Failure::new(status, e)
        })
    })
}

/// Replaces the default certificate chain and key of a running TLS server
/// (the pair of `ws_server_config_set_tls_cert_file`) with those in these
/// PEM files, e.g. after a renewal: every TLS handshake whose first message
/// arrives after this returns presents the new pair; connections already open
/// (or further in their handshake) keep the one they got. May be called from
/// any thread, including from a callback. On failure nothing changes: `WS_ERR_TLS` when a
/// file is unreadable or holds no certificate or key, or the key does not
/// belong to the certificate; `WS_ERR_BAD_STATE` when the server was started
/// without TLS.
#[no_mangle]
pub unsafe extern "C" fn ws_server_reload_tls_cert_file(
    server: *const ws_server,
    cert_file: *const c_char,
    key_file: *const c_char,
) -> ws_status {
    reload(server, None, || identity_from_files(cert_file, key_file))
}

/// As `ws_server_reload_tls_cert_file`, with the PEM text in memory.
#[no_mangle]
pub unsafe extern "C" fn ws_server_reload_tls_cert_pem(
    server: *const ws_server,
    cert_pem: *const u8,
    cert_len: usize,
    key_pem: *const u8,
    key_len: usize,
) -> ws_status {
    reload(server, None, || {
        identity_from_pem(cert_pem, cert_len, key_pem, key_len)
    })
}

/// As `ws_server_reload_tls_cert_file`, for the certificate presented to
/// clients asking for `hostname` (SNI); a name the server had no certificate
/// for is added. Also `WS_ERR_TLS` when `hostname` is not a DNS name or the
/// certificate is not valid for it (see
/// `ws_server_config_add_tls_sni_cert_file`).
#[no_mangle]
pub unsafe extern "C" fn ws_server_reload_tls_sni_cert_file(
    server: *const ws_server,
    hostname: *const c_char,
    cert_file: *const c_char,
    key_file: *const c_char,
) -> ws_status {
    reload(server, Some(hostname), || {
        identity_from_files(cert_file, key_file)
    })
}

/// As `ws_server_reload_tls_sni_cert_file`, with the PEM text in memory.
#[no_mangle]
pub unsafe extern "C" fn ws_server_reload_tls_sni_cert_pem(
    server: *const ws_server,
    hostname: *const c_char,
    cert_pem: *const u8,
    cert_len: usize,
    key_pem: *const u8,
    key_len: usize,
) -> ws_status {
    reload(server, Some(hostname), || {
        identity_from_pem(cert_pem, cert_len, key_pem, key_len)
    })
}

/// Trusts the CA certificates in this PEM file for wss:// servers, in addition
/// to the system's store (see `ws_client_config_set_tls_system_roots`); may be
/// called again to add more.
#[no_mangle]
pub unsafe extern "C" fn ws_client_config_add_tls_ca_file(
    cfg: *mut ws_client_config,
    ca_file: *const c_char,
) -> ws_status {
    with(cfg, |c| {
        c.inner.tls.extra_roots.extend(cas_from_file(ca_file)?);
        Ok(())
    })
}

/// As `ws_client_config_add_tls_ca_file`, with the PEM text in memory.
#[no_mangle]
pub unsafe extern "C" fn ws_client_config_add_tls_ca_pem(
    cfg: *mut ws_client_config,
    ca_pem: *const u8,
    len: usize,
) -> ws_status {
    with(cfg, |c| {
        c.inner.tls.extra_roots.extend(cas_from_pem(ca_pem, len)?);
        Ok(())
    })
}

/// Non-zero (default) trusts the system's CA store (Debian: the
/// ca-certificates package; `SSL_CERT_FILE` / `SSL_CERT_DIR` override it);
/// 0 trusts only the CAs added with `ws_client_config_add_tls_ca_*`.
#[no_mangle]
pub unsafe extern "C" fn ws_client_config_set_tls_system_roots(
    cfg: *mut ws_client_config,
    use_system: c_int,
) -> ws_status {
    with(cfg, |c| {
        c.inner.tls.system_roots = use_system != 0;
        Ok(())
    })
}

/// A client certificate and key (PEM files) for servers that ask for one
/// (mutual TLS).
#[no_mangle]
pub unsafe extern "C" fn ws_client_config_set_tls_client_cert_file(
    cfg: *mut ws_client_config,
    cert_file: *const c_char,
    key_file: *const c_char,
) -> ws_status {
    with(cfg, |c| {
        c.inner.tls.identity = Some(identity_from_files(cert_file, key_file)?);
        Ok(())
    })
}

/// As `ws_client_config_set_tls_client_cert_file`, with the PEM text in memory.
#[no_mangle]
pub unsafe extern "C" fn ws_client_config_set_tls_client_cert_pem(
    cfg: *mut ws_client_config,
    cert_pem: *const u8,
    cert_len: usize,
    key_pem: *const u8,
    key_len: usize,
) -> ws_status {
    with(cfg, |c| {
        c.inner.tls.identity = Some(identity_from_pem(cert_pem, cert_len, key_pem, key_len)?);
        Ok(())
    })
}

/// DANGEROUS: accepts any server certificate, for any name, from anyone. The
/// connection is encrypted but not authenticated, so anyone on the path can
/// read and change it. Only for tests against a self-signed server; prefer
/// `ws_client_config_add_tls_ca_file` with that server's certificate.
#[no_mangle]
pub unsafe extern "C" fn ws_client_config_dangerous_disable_tls_verification(
    cfg: *mut ws_client_config,
) -> ws_status {
    with(cfg, |c| {
        c.inner.tls.verify = false;
        Ok(())
    })
}
