//! A real OAuth 2.0 / OpenID Connect authorization server on loopback, for tests of the code
//! flow, refresh and id-token verification against something that is not our own fake.
//!
//! It is the npm package `oauth2-mock-server` behind a small wrapper, `oauth-server/server.mjs`,
//! run with Node.js. The wrapper makes it check what a real server checks (PKCE, single-use codes,
//! `redirect_uri`, tracked and revocable refresh tokens, all failing with `invalid_grant`) and
//! adds control endpoints, which [`OAuthServer`] exposes as methods:
//!
//! ```no_run
//! # async fn example() {
//! use tributary_testkit::oauth::{OAuthServer, callback_param};
//! let Some(server) = OAuthServer::start_or_skip().await else { return };
//! server.configure(serde_json::json!({"idTokenClaims": {"tid": "tenant-1"}})).await;
//! let url = format!("{}?response_type=code&client_id=app&redirect_uri=http://127.0.0.1/cb&state=s1",
//!     server.authorize_url());
//! let callback = server.authorize(&url).await;
//! assert_eq!(callback_param(&callback, "state"), Some("s1"));
//! # }
//! ```
//!
//! The packages are installed by `bash crates/testkit/oauth-server/setup.sh` (`scripts/test` runs
//! it). Without Node.js or the packages, [`OAuthServer::start_or_skip`] skips the test, except
//! under CI (`CI=true`), where a skipped test would hide a broken setup.

use std::{
    fmt,
    path::{Path, PathBuf},
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::Value;
use tokio::{
    io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
    process::{Child, ChildStdin, Command},
};

/// How long the server may take to print its address (Node.js start and RSA key generation on a
/// busy machine).
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one control or discovery request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The command that installs the server's npm packages.
const SETUP_COMMAND: &str = "bash crates/testkit/oauth-server/setup.sh";

/// Why the server could not be started.
#[derive(Debug)]
pub enum OAuthServerUnavailable {
    /// `node` could not be run.
    NodeMissing(std::io::Error),
    /// The npm packages are not installed in `dir`.
    PackagesMissing { dir: PathBuf },
    /// Node.js ran but the server did not come up (or did not answer as expected).
    Failed(String),
}

impl OAuthServerUnavailable {
    /// Whether a prerequisite of the machine is missing (a test may be skipped outside CI),
    /// rather than the server being broken (a test must fail).
    pub fn is_missing_prerequisite(&self) -> bool {
        matches!(self, Self::NodeMissing(_) | Self::PackagesMissing { .. })
    }
}

impl fmt::Display for OAuthServerUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NodeMissing(err) => write!(
                f,
                "the test OAuth server needs Node.js (20.19 or later), but `node` could not be \
                 run ({err}); install Node.js and npm, then run `{SETUP_COMMAND}`"
            ),
            Self::PackagesMissing { dir } => write!(
                f,
                "the test OAuth server's npm packages are not installed in {}; run \
                 `{SETUP_COMMAND}`",
                dir.display()
            ),
            Self::Failed(why) => write!(f, "the test OAuth server did not start: {why}"),
        }
    }
}

impl std::error::Error for OAuthServerUnavailable {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::NodeMissing(err) => Some(err),
            _ => None,
        }
    }
}

/// A running OAuth 2.0 / OIDC server on `127.0.0.1`. Dropping it kills the Node.js process; the
/// process also exits by itself when this test process ends, because its stdin (held here)
/// closes.
///
/// What the server does:
/// - `/authorize` approves at once and redirects to `redirect_uri` with `code` and `state`.
/// - The token endpoint grants `authorization_code`, `refresh_token` and `client_credentials`.
///   A code is single-use (consumed by its first exchange attempt, even a failed one) and lives
///   10 minutes; its exchange must repeat the authorize request's `redirect_uri` and client id
///   and, when the authorize request carried a `code_challenge`, present the matching
///   `code_verifier`. Refresh tokens are random and tracked: unknown, revoked and rotated-away
///   ones are refused. Every such refusal is 400 `{"error":"invalid_grant", ...}`.
/// - Id tokens (RS256, key at [`jwks_url`](Self::jwks_url)) carry `iss` = [`issuer`](Self::issuer),
///   `aud` = the client id, `sub` = `johndoe`, the authorize request's `nonce` and the claims set
///   with `idTokenClaims`.
pub struct OAuthServer {
    port: u16,
    issuer: String,
    discovery_url: String,
    authorize_url: String,
    token_url: String,
    jwks_url: String,
    /// Kept open: the server exits when it closes.
    stdin: Option<ChildStdin>,
    child: Child,
}

impl fmt::Debug for OAuthServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthServer")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl OAuthServer {
    /// Starts the server on an ephemeral port and reads its discovery document.
    pub async fn start() -> Result<Self, OAuthServerUnavailable> {
        let dir = server_dir();
        if !dir
            .join("node_modules/oauth2-mock-server/package.json")
            .is_file()
        {
            return Err(OAuthServerUnavailable::PackagesMissing { dir });
        }
        let mut child = Command::new("node")
            .arg("server.mjs")
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(OAuthServerUnavailable::NodeMissing)?;
        let stdin = child.stdin.take();
        let stderr_log = Arc::new(Mutex::new(String::new()));
        let stderr_relay = child.stderr.take().map(|stderr| {
            tokio::spawn(relay_output(
                BufReader::new(stderr),
                Arc::clone(&stderr_log),
            ))
        });
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut first_line = String::new();
        let read = tokio::time::timeout(START_TIMEOUT, stdout.read_line(&mut first_line)).await;
        // Whatever it prints later is relayed too: a closed pipe would break its writes.
        tokio::spawn(relay_output(stdout, Arc::new(Mutex::new(String::new()))));
        let failure = match read {
            Err(_) => Some(format!(
                "it printed no address within {} s",
                START_TIMEOUT.as_secs()
            )),
            Ok(Err(err)) => Some(format!("its output could not be read ({err})")),
            Ok(Ok(0)) => Some("it exited before printing its address".to_owned()),
            Ok(Ok(_)) => None,
        };
        if let Some(failure) = failure {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(2), child.wait()).await;
            if let Some(relay) = stderr_relay {
                let _ = tokio::time::timeout(Duration::from_secs(1), relay).await;
            }
            let log = stderr_log.lock().expect("stderr log").trim().to_owned();
            return Err(OAuthServerUnavailable::Failed(if log.is_empty() {
                failure
            } else {
                format!("{failure}; its stderr:\n{log}")
            }));
        }
        let (issuer, port) =
            parse_ready_line(&first_line).map_err(OAuthServerUnavailable::Failed)?;
        let discovery_url = format!("{issuer}/.well-known/openid-configuration");
        let discovery = loopback_request(port, "GET", &discovery_url, None)
            .await
            .and_then(|answer| answer.json_if_ok())
            .map_err(|err| {
                OAuthServerUnavailable::Failed(format!("its discovery document: {err}"))
            })?;
        let endpoint = |name: &str| {
            discovery
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| {
                    OAuthServerUnavailable::Failed(format!(
                        "its discovery document has no `{name}`"
                    ))
                })
        };
        Ok(Self {
            port,
            authorize_url: endpoint("authorization_endpoint")?,
            token_url: endpoint("token_endpoint")?,
            jwks_url: endpoint("jwks_uri")?,
            issuer: endpoint("issuer")?,
            discovery_url,
            stdin,
            child,
        })
    }

    /// [`start`](Self::start), or `None` (with a note on stderr) when Node.js or the npm
    /// packages are missing, so a test passes on a machine without them.
    ///
    /// # Panics
    /// When the server is broken rather than absent, and under CI (`CI=true`) whenever it does
    /// not start: CI must run these tests, never skip them.
    pub async fn start_or_skip() -> Option<Self> {
        match Self::start().await {
            Ok(server) => Some(server),
            Err(err) if err.is_missing_prerequisite() && !running_in_ci() => {
                eprintln!("skipping: {err}");
                None
            }
            Err(err) => panic!("{err}"),
        }
    }

    /// `http://127.0.0.1:<port>`, the `iss` of its tokens.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The OIDC discovery document's URL (`/.well-known/openid-configuration`).
    pub fn discovery_url(&self) -> &str {
        &self.discovery_url
    }

    /// The authorization endpoint, from the discovery document.
    pub fn authorize_url(&self) -> &str {
        &self.authorize_url
    }

    /// The token endpoint, from the discovery document.
    pub fn token_url(&self) -> &str {
        &self.token_url
    }

    /// The JWK set of the id-token signing key, from the discovery document.
    pub fn jwks_url(&self) -> &str {
        &self.jwks_url
    }

    /// Changes how the server answers from now on; `settings` holds any of:
    /// - `rotateRefreshTokens` (bool, default true): each refresh returns a new refresh token and
    ///   the presented one stops working; false returns the presented one again.
    /// - `omitRefreshTokenOnRefresh` (bool, default false): refresh answers carry no
    ///   `refresh_token` at all (the presented one keeps working).
    /// - `expiresIn` (seconds, default 3600): access-token lifetime and `expires_in`.
    /// - `idTokenClaims` (object): claims merged into id tokens over the server's own, e.g.
    ///   `{"tid": "..."}` for an Entra-like tenant id.
    /// - `refreshDelayMs` (default 0): the server consumes a refresh token when the request
    ///   arrives and answers this much later, to widen race windows between refreshes.
    ///
    /// # Panics
    /// When the server refuses a setting (unknown name, wrong type) or cannot be reached.
    pub async fn configure(&self, settings: Value) {
        self.control("POST", "/__control/config", Some(&settings))
            .await;
    }

    /// Revokes a refresh token this server issued: refreshing with it gets `invalid_grant`.
    ///
    /// # Panics
    /// When the server never issued `refresh_token`, or cannot be reached.
    pub async fn revoke(&self, refresh_token: &str) {
        let body = serde_json::json!({ "refreshToken": refresh_token });
        self.control("POST", "/__control/revoke", Some(&body)).await;
    }

    /// Token requests received so far by grant type, rejected ones included:
    /// `{"authorization_code": 1, "refresh_token": 2, "client_credentials": 0}`.
    ///
    /// # Panics
    /// When the server cannot be reached.
    pub async fn stats(&self) -> Value {
        self.control("GET", "/__control/stats", None).await
    }

    /// The browser's part of the code flow: requests `authorize_url_with_query` (an
    /// authorization URL as a client builds it) without following the redirect and returns the
    /// query parameters of the redirect's `Location`: `code` and `state`, or `error` and
    /// `error_description`. See [`callback_param`].
    ///
    /// # Panics
    /// When the URL is not this server's, or the server does not answer with a redirect.
    pub async fn authorize(&self, authorize_url_with_query: &str) -> Vec<(String, String)> {
        let answer = loopback_request(self.port, "GET", authorize_url_with_query, None)
            .await
            .unwrap_or_else(|err| panic!("authorize request: {err}"));
        if !(300..400).contains(&answer.status) {
            panic!(
                "the authorize request was answered {} instead of a redirect: {}",
                answer.status,
                String::from_utf8_lossy(&answer.body)
            );
        }
        let location = answer
            .header("location")
            .unwrap_or_else(|| panic!("the authorize redirect has no Location header"));
        let query = location.split_once('?').map_or("", |(_, query)| query);
        let query = query.split_once('#').map_or(query, |(query, _)| query);
        parse_form(query)
    }

    /// Stops the server and waits for its process to end.
    pub async fn stop(mut self) {
        // Closing stdin asks it to exit; kill it if it does not.
        drop(self.stdin.take());
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }

    async fn control(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let url = format!("{}{path}", self.issuer);
        loopback_request(self.port, method, &url, body)
            .await
            .and_then(|answer| answer.json_if_ok())
            .unwrap_or_else(|err| panic!("{method} {path} on the test OAuth server: {err}"))
    }
}

/// The value of the first `name` parameter in `params` (from [`OAuthServer::authorize`]).
pub fn callback_param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

fn server_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("oauth-server")
}

fn running_in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value.eq_ignore_ascii_case("true") || value == "1")
}

/// Copies the server's output to our stderr and keeps its start in `log` for the error of a
/// failed start.
async fn relay_output(output: impl AsyncBufRead + Unpin, log: Arc<Mutex<String>>) {
    let mut lines = output.lines();
    while let Ok(Some(line)) = lines.next_line().await {
        eprintln!("[oauth-server] {line}");
        let mut log = log.lock().expect("stderr log");
        if log.len() < 16 * 1024 {
            log.push_str(&line);
            log.push('\n');
        }
    }
}

/// Reads `{"issuer": "...", "port": N}`.
fn parse_ready_line(line: &str) -> Result<(String, u16), String> {
    let ready: Value = serde_json::from_str(line.trim())
        .map_err(|err| format!("its first line is not JSON ({err}): {line:?}"))?;
    let issuer = ready.get("issuer").and_then(Value::as_str);
    let port = ready
        .get("port")
        .and_then(Value::as_u64)
        .and_then(|port| u16::try_from(port).ok());
    match (issuer, port) {
        (Some(issuer), Some(port)) => Ok((issuer.trim_end_matches('/').to_owned(), port)),
        _ => Err(format!("its first line lacks issuer or port: {line:?}")),
    }
}

/// An HTTP answer, read whole.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    fn json_if_ok(self) -> Result<Value, String> {
        let text = String::from_utf8_lossy(&self.body);
        if !(200..300).contains(&self.status) {
            return Err(format!("answered {}: {text}", self.status));
        }
        serde_json::from_str(&text).map_err(|err| format!("answered non-JSON ({err}): {text}"))
    }
}

/// One HTTP/1.1 request to the server on `127.0.0.1:port`, with a JSON body when given. A few
/// lines over a TCP stream instead of an HTTP client: the library needs no TLS stack (and so
/// no crypto provider) for loopback, and must not follow redirects.
async fn loopback_request(
    port: u16,
    method: &str,
    url: &str,
    body: Option<&Value>,
) -> Result<Answer, String> {
    let path = [
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost:{port}"),
    ]
    .iter()
    .find_map(|origin| url.strip_prefix(origin.as_str()))
    .filter(|path| path.starts_with('/'))
    .ok_or_else(|| format!("{url:?} is not a URL of the test OAuth server (port {port})"))?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Accept: application/json\r\n"
    );
    if method != "GET" {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    let exchange = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        Ok::<_, std::io::Error>(raw)
    };
    let raw = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("no answer within {} s", REQUEST_TIMEOUT.as_secs()))?
        .map_err(|err| format!("request failed ({err})"))?;
    parse_answer(&raw)
}

fn parse_answer(raw: &[u8]) -> Result<Answer, String> {
    let end = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .ok_or("the answer has no complete header")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or("the answer has no status line")?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    let mut answer = Answer {
        status,
        headers,
        body: Vec::new(),
    };
    let rest = &raw[end + 4..];
    answer.body = if answer
        .header("transfer-encoding")
        .is_some_and(|value| value.eq_ignore_ascii_case("chunked"))
    {
        dechunk(rest)?
    } else if let Some(length) = answer.header("content-length") {
        let length: usize = length.parse().map_err(|_| "bad Content-Length")?;
        rest.get(..length)
            .ok_or("the answer is shorter than its Content-Length")?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(answer)
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|window| window == b"\r\n")
            .ok_or("a chunk has no size line")?;
        let size_line = String::from_utf8_lossy(&rest[..line_end]);
        let size_hex = size_line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16).map_err(|_| "bad chunk size")?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        body.extend_from_slice(rest.get(..size).ok_or("a chunk is cut short")?);
        rest = rest.get(size + 2..).ok_or("a chunk is cut short")?;
    }
}

/// Decodes `application/x-www-form-urlencoded` (a redirect's query).
fn parse_form(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(name), percent_decode(value))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (escaped, bytes[i]) {
            (Some(byte), _) => {
                decoded.push(byte);
                i += 3;
            }
            (None, b'+') => {
                decoded.push(b' ');
                i += 1;
            }
            (None, byte) => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_redirect_queries() {
        assert_eq!(
            parse_form("code=a%2Fb+c&state=x%3D&empty"),
            [
                ("code".to_owned(), "a/b c".to_owned()),
                ("state".to_owned(), "x=".to_owned()),
                ("empty".to_owned(), String::new()),
            ]
        );
        assert_eq!(percent_decode("%zz%4%+1"), "%zz%4% 1");
    }

    #[test]
    fn reads_chunked_and_sized_answers() {
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        let answer = parse_answer(chunked).unwrap();
        assert_eq!(
            (answer.status, answer.body.as_slice()),
            (200, &b"abcde"[..])
        );
        let sized = b"HTTP/1.1 302 Found\r\nLocation: http://x/cb?code=1\r\nContent-Length: 2\r\n\r\nokextra";
        let answer = parse_answer(sized).unwrap();
        assert_eq!(answer.header("location"), Some("http://x/cb?code=1"));
        assert_eq!(answer.body, b"ok");
    }
}
