//! The process-wide rustls crypto provider. reqwest is built with `rustls-no-provider`, so rustls
//! needs a provider installed before the first client is built; we use ring (no C build of aws-lc).

use std::sync::Once;

static INSTALL: Once = Once::new();

/// Installs ring as rustls' default crypto provider. Idempotent and safe to call from anywhere:
/// if the host application installed a provider first, that one stays.
pub fn install_crypto_provider() {
    INSTALL.call_once(|| {
        // An `Err` means some provider is already installed, which is all we need.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn installing_twice_is_harmless() {
        super::install_crypto_provider();
        super::install_crypto_provider();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }
}
