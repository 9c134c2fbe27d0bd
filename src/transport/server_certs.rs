//! The certificates a TLS server presents: a default one, and others by the
//! server name a client asks for (SNI). Each can be replaced while the server
//! runs: handshakes that start afterwards get the new one, connections
//! already open keep theirs. A handshake takes one uncontended read lock to
//! pick its certificate; nothing is looked up per message.

use super::tls::Identity;
use rustls::client::verify_server_name;
use rustls::pki_types::{DnsName, ServerName};
use rustls::server::{ClientHello, ParsedCertificate, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, RwLock, RwLockWriteGuard};

/// The certificates of a running TLS server, swapped in place by
/// [`ServerCerts::replace_default`] and [`ServerCerts::replace_named`].
#[derive(Debug)]
pub struct ServerCerts {
    table: RwLock<Table>,
}

#[derive(Debug)]
struct Table {
    /// For clients that send no server name, or one without a certificate of its own.
    default: Arc<CertifiedKey>,
    /// By server name, lower case (as rustls hands over the client's name).
    by_name: HashMap<String, Arc<CertifiedKey>>,
}

impl ServerCerts {
    /// The certificates `default` and `by_name` (server name to certificate;
    /// each name is checked as [`sni_name`] does).
    pub fn new(
        default: &Identity,
        by_name: &BTreeMap<String, Identity>,
    ) -> Result<ServerCerts, String> {
        let by_name = by_name
            .iter()
            .map(|(name, identity)| Ok((sni_name(name, identity)?, identity.certified().clone())))
            .collect::<Result<_, String>>()?;
        Ok(ServerCerts {
            table: RwLock::new(Table {
                default: default.certified().clone(),
                by_name,
            }),
        })
    }

    /// Presents `identity` from now on to clients that send no server name or
    /// one without a certificate of its own.
    pub fn replace_default(&self, identity: &Identity) {
        self.write().default = identity.certified().clone();
    }

    /// Presents `identity` from now on to clients asking for `hostname`
    /// (replacing the certificate it had, or adding it). An error, and no
    /// change, when `hostname` is not a DNS name or the certificate is not
    /// valid for it.
    pub fn replace_named(&self, hostname: &str, identity: &Identity) -> Result<(), String> {
        let name = sni_name(hostname, identity)?;
        self.write()
            .by_name
            .insert(name, identity.certified().clone());
        Ok(())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Table> {
        self.table.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl ResolvesServerCert for ServerCerts {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let table = self.table.read().unwrap_or_else(|e| e.into_inner());
        let named = hello.server_name().and_then(|name| table.by_name.get(name));
        Some(named.unwrap_or(&table.default).clone())
    }
}

/// `hostname` as clients send it in SNI (a DNS name, lower case), after
/// checking that `identity`'s certificate is valid for it (wildcards count).
pub fn sni_name(hostname: &str, identity: &Identity) -> Result<String, String> {
    if hostname.parse::<IpAddr>().is_ok() {
        return Err(format!(
            "'{hostname}' is an IP address: clients send only DNS names as server names \
             (SNI), so the default certificate serves connections by address"
        ));
    }
    let name = DnsName::try_from(hostname)
        .map_err(|_| format!("'{hostname}' is not a valid DNS name for SNI"))?
        .to_lowercase_owned();
    let leaf = identity
        .certified()
        .end_entity_cert()
        .and_then(ParsedCertificate::try_from)
        .map_err(|e| format!("certificate for '{hostname}': unusable ({e})"))?;
    verify_server_name(&leaf, &ServerName::DnsName(name.clone()))
        .map_err(|_| format!("the certificate is not valid for the name '{hostname}'"))?;
    Ok(name.as_ref().to_string())
}
