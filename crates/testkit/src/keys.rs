//! Test-only keys, generated for this repository (`openssl genpkey -algorithm RSA -pkeyopt
//! rsa_keygen_bits:2048`). They protect nothing and must never be used outside tests. Other
//! crates' tests take them from here rather than reaching into this crate's files.

/// Signs the fake authorization server's id tokens; elsewhere, a key nobody registered.
pub const ISSUER_RSA_PEM: &str = include_str!("../keys/issuer-rsa.pem");
/// The private key of the app registered with the fake GitHub (and of other app-like fakes).
pub const APP_RSA_PEM: &str = include_str!("../keys/app-rsa.pem");
/// The public half of [`APP_RSA_PEM`].
pub const APP_RSA_PUBLIC_PEM: &str = include_str!("../keys/app-rsa.pub.pem");
/// A key no fake knows: what signs the "wrong key" cases.
pub const OTHER_RSA_PEM: &str = include_str!("../keys/other-rsa.pem");
