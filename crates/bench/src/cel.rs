//! `cel`: realistic provider payloads (Okta users, GitHub organisation members, AWS Security Hub
//! ASFF findings) through a realistic filter + map, on one core, against a baseline that only
//! parses the payload bytes and serialises an object of the same output fields with serde_json.
//!
//! Records per second are measured in CPU time of the one thread that runs both sides (the
//! wall-clock figures are reported too). Ours: parse the bytes (within the engine's payload limits), filter, map, serialise the mapped
//! object. Baseline: parse the bytes into a `serde_json::Value`, and for the records that pass
//! the filter serialise the already-computed output object: it does no field extraction at
//! all, so it is a strict baseline.
//!
//! `per_kind` uses mappings written for the bench; `shipped_mappings` runs the same payloads
//! through the mappings the Okta and AWS Security Hub definitions ship.

use serde_json::{Map, Value, json};
use tributary_cel::{Activation, CelEngine, Program};

#[derive(clap::Args)]
pub struct Args {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Payloads to run through each side.
    #[arg(long, default_value_t = 100_000)]
    pub records: usize,
}

const OKTA_FILTER: &str = "payload.status in ['ACTIVE', 'PROVISIONED', 'RECOVERY', 'LOCKED_OUT']";
const OKTA_MAP: &str = r#"{
  "external_id": payload.id,
  "username": payload.profile.login,
  "email": payload.profile.email.lowerAscii(),
  "display_name": payload.profile.firstName + " " + payload.profile.lastName,
  "given_name": payload.profile.firstName,
  "family_name": payload.profile.lastName,
  "title": payload.profile.?title.orValue(null),
  "department": payload.profile.?department.orValue(null),
  "manager_email": payload.profile.?managerEmail.orValue(null),
  "employee_number": payload.profile.?employeeNumber.orValue(null),
  "active": payload.status == "ACTIVE",
  "status": payload.status.lowerAscii(),
  "created_at": payload.created,
  "last_login_at": payload.?lastLogin.orValue(null),
  "mfa": payload.credentials.provider.type == "OKTA" && has(payload.profile.mobilePhone)
}"#;

const GITHUB_FILTER: &str = "payload.type == 'User' && !payload.login.endsWith('[bot]')";
const GITHUB_MAP: &str = r#"{
  "external_id": string(payload.id),
  "username": payload.login,
  "display_name": payload.?name.orValue(payload.login),
  "email": payload.?email.orValue(null),
  "role": payload.?role_name.orValue("member"),
  "admin": payload.site_admin || payload.?role_name.orValue("") == "admin",
  "avatar_url": payload.avatar_url,
  "profile_url": payload.html_url,
  "active": true
}"#;

const ASFF_FILTER: &str = "payload.RecordState == 'ACTIVE' && payload.Workflow.Status != 'SUPPRESSED' \
     && has(payload.Vulnerabilities) && size(payload.Vulnerabilities) > 0";
const ASFF_MAP: &str = r#"{
  "external_id": payload.Id,
  "title": payload.Title,
  "severity": payload.Severity.Label.lowerAscii(),
  "cve_id": payload.Vulnerabilities[0].Id,
  "cvss_score": math.greatest(payload.Vulnerabilities[0].Cvss.map(c, c.BaseScore)),
  "packages": payload.Vulnerabilities[0].VulnerablePackages.map(p, p.Name + "@" + p.Version),
  "fix_available": payload.Vulnerabilities[0].FixAvailable == "YES",
  "resource_id": payload.Resources[0].Id,
  "resource_type": payload.Resources[0].Type,
  "account_id": payload.AwsAccountId,
  "region": payload.Region,
  "first_seen_at": payload.FirstObservedAt,
  "last_seen_at": payload.LastObservedAt,
  "status": payload.Workflow.Status.lowerAscii(),
  "references": payload.Vulnerabilities[0].?ReferenceUrls.orValue([])
}"#;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    OktaUser,
    GithubMember,
    AsffFinding,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::OktaUser, Kind::GithubMember, Kind::AsffFinding];

    fn name(self) -> &'static str {
        match self {
            Kind::OktaUser => "okta_user",
            Kind::GithubMember => "github_member",
            Kind::AsffFinding => "asff_finding",
        }
    }

    fn variant(self) -> &'static str {
        match self {
            Kind::OktaUser | Kind::GithubMember => "user",
            Kind::AsffFinding => "finding",
        }
    }

    fn expressions(self) -> (&'static str, &'static str) {
        match self {
            Kind::OktaUser => (OKTA_FILTER, OKTA_MAP),
            Kind::GithubMember => (GITHUB_FILTER, GITHUB_MAP),
            Kind::AsffFinding => (ASFF_FILTER, ASFF_MAP),
        }
    }
}

/// SplitMix64: deterministic variety without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn hex(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from_digit(self.below(16) as u32, 16).unwrap_or('0'))
            .collect()
    }

    fn alnum(&mut self, len: usize) -> String {
        const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        (0..len)
            .map(|_| CHARS[self.below(CHARS.len() as u64) as usize] as char)
            .collect()
    }

    fn timestamp(&mut self) -> String {
        format!(
            "20{:02}-{:02}-{:02}T{:02}:{:02}:{:02}.000Z",
            18 + self.below(8),
            1 + self.below(12),
            1 + self.below(28),
            self.below(24),
            self.below(60),
            self.below(60)
        )
    }
}

const FIRST: &[&str] = &[
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "Ken",
    "Radia",
    "Linus",
    "Margaret",
    "Dennis",
    "Katherine",
    "Tim",
    "Hedy",
    "Niklaus",
];
const LAST: &[&str] = &[
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "Thompson",
    "Perlman",
    "Torvalds",
    "Hamilton",
    "Ritchie",
    "Johnson",
    "Berners-Lee",
    "Lamarr",
    "Wirth",
];
const DEPARTMENTS: &[&str] = &[
    "Engineering",
    "Sales",
    "Finance",
    "Security",
    "Support",
    "People",
];
const TITLES: &[&str] = &[
    "Software Engineer",
    "Account Executive",
    "Controller",
    "Security Analyst",
    "Support Lead",
    "Recruiter",
    "Engineering Manager",
];

fn okta_user(rng: &mut Rng, n: usize) -> Value {
    let first = rng.pick(FIRST);
    let last = rng.pick(LAST);
    let login = format!(
        "{}.{}{}@Example.com",
        first.to_lowercase(),
        last.to_lowercase(),
        n
    );
    let status = if rng.chance(85) {
        "ACTIVE"
    } else {
        rng.pick(&[
            "PROVISIONED",
            "SUSPENDED",
            "DEPROVISIONED",
            "LOCKED_OUT",
            "STAGED",
        ])
    };
    let id = format!("00u{}", rng.alnum(17));
    let mut profile = json!({
        "firstName": first,
        "lastName": last,
        "login": login,
        "email": login,
        "secondEmail": null,
        "locale": "en_US",
        "timezone": "Europe/London",
        "userType": rng.pick(&["Employee", "Contractor"]),
        "countryCode": rng.pick(&["GB", "US", "DE", "FR"]),
    });
    if rng.chance(80) {
        profile["title"] = json!(rng.pick(TITLES));
        profile["department"] = json!(rng.pick(DEPARTMENTS));
        profile["employeeNumber"] = json!(format!("{}", 10_000 + n));
    }
    if rng.chance(60) {
        profile["managerEmail"] = json!(format!("{}@example.com", rng.pick(FIRST).to_lowercase()));
        profile["mobilePhone"] = json!(format!("+44 7700 {:06}", rng.below(1_000_000)));
    }
    let created = rng.timestamp();
    let mut user = json!({
        "id": id,
        "status": status,
        "created": created,
        "activated": created,
        "statusChanged": rng.timestamp(),
        "lastUpdated": rng.timestamp(),
        "passwordChanged": rng.timestamp(),
        "type": { "id": format!("oty{}", rng.alnum(17)) },
        "profile": profile,
        "credentials": {
            "password": {},
            "emails": [{ "value": login, "status": "VERIFIED", "type": "PRIMARY" }],
            "provider": { "type": rng.pick(&["OKTA", "OKTA", "OKTA", "ACTIVE_DIRECTORY"]), "name": "OKTA" }
        },
        "_links": {
            "self": { "href": format!("https://example.okta.com/api/v1/users/{id}") },
            "suspend": { "href": format!("https://example.okta.com/api/v1/users/{id}/lifecycle/suspend"), "method": "POST" },
            "schema": { "href": format!("https://example.okta.com/api/v1/meta/schemas/user/osc{}", rng.alnum(17)) },
            "type": { "href": format!("https://example.okta.com/api/v1/meta/types/user/oty{}", rng.alnum(17)) }
        }
    });
    if rng.chance(90) {
        user["lastLogin"] = json!(rng.timestamp());
    }
    user
}

fn github_member(rng: &mut Rng, n: usize) -> Value {
    let first = rng.pick(FIRST);
    let login = if rng.chance(5) {
        format!("deploy-{n}[bot]")
    } else {
        format!(
            "{}{}-{}",
            first.to_lowercase(),
            rng.pick(LAST).to_lowercase(),
            rng.below(10_000)
        )
    };
    let id = 1_000_000 + n as u64 * 7 + rng.below(7);
    // The account as GitHub embeds it, plus what the organization's member listing adds.
    let node_id = format!("MDQ6VXNlcj{}", rng.alnum(8));
    let kind = if rng.chance(97) {
        "User"
    } else {
        "Organization"
    };
    let mut member = tributary_testkit::github_app::simple_user(&login, id, &node_id, kind);
    member["site_admin"] = json!(rng.chance(1));
    member["role_name"] = json!(if rng.chance(10) { "admin" } else { "member" });
    if rng.chance(70) {
        member["name"] = json!(format!("{} {}", first, rng.pick(LAST)));
    }
    if rng.chance(40) {
        member["email"] = json!(format!("{}@example.com", first.to_lowercase()));
    }
    member
}

fn asff_finding(rng: &mut Rng, n: usize) -> Value {
    let account = format!("{:012}", 100_000_000_000 + rng.below(900_000_000_000));
    let region = rng.pick(&["eu-west-1", "us-east-1", "us-west-2", "ap-southeast-2"]);
    let cve = format!("CVE-20{}-{}", 18 + rng.below(8), 1000 + rng.below(50_000));
    let instance = format!("i-{}", rng.hex(17));
    let severity = rng.pick(&["LOW", "MEDIUM", "HIGH", "CRITICAL", "INFORMATIONAL"]);
    let score = (rng.below(100) as f64) / 10.0;
    let packages: Vec<Value> = (0..1 + rng.below(3))
        .map(|_| {
            json!({
                "Name": rng.pick(&["openssl", "glibc", "curl", "log4j-core", "zlib", "sudo"]),
                "Version": format!("{}.{}.{}", rng.below(4), rng.below(20), rng.below(30)),
                "Epoch": "0",
                "Release": format!("{}.amzn2", rng.below(40)),
                "Architecture": "x86_64",
                "PackageManager": "OS",
                "FixedInVersion": format!("{}.{}.{}", rng.below(4), rng.below(20), 30 + rng.below(30)),
                "Remediation": "yum update"
            })
        })
        .collect();
    let record_state = if rng.chance(92) { "ACTIVE" } else { "ARCHIVED" };
    let workflow = if rng.chance(95) {
        rng.pick(&["NEW", "NOTIFIED", "RESOLVED"])
    } else {
        "SUPPRESSED"
    };
    json!({
        "SchemaVersion": "2018-10-08",
        "Id": format!("arn:aws:inspector2:{region}:{account}:finding/{}", rng.hex(32)),
        "ProductArn": format!("arn:aws:securityhub:{region}::product/aws/inspector"),
        "ProductName": "Inspector",
        "CompanyName": "Amazon",
        "Region": region,
        "GeneratorId": "AWSInspector",
        "AwsAccountId": account,
        "Types": ["Software and Configuration Checks/Vulnerabilities/CVE"],
        "FirstObservedAt": rng.timestamp(),
        "LastObservedAt": rng.timestamp(),
        "CreatedAt": rng.timestamp(),
        "UpdatedAt": rng.timestamp(),
        "Severity": { "Label": severity, "Normalized": (score * 10.0) as i64, "Original": severity },
        "Title": format!("{cve} - {}", rng.pick(&["openssl", "glibc", "curl", "log4j-core"])),
        "Description": format!("A flaw was found in the package that could allow a remote attacker to cause a denial of service ({n})."),
        "Remediation": { "Recommendation": { "Text": "Update the affected package.", "Url": format!("https://nvd.nist.gov/vuln/detail/{cve}") } },
        "ProductFields": {
            "aws/inspector/ProductVersion": "2",
            "aws/inspector/FindingStatus": "ACTIVE",
            "aws/inspector/inspectorScore": format!("{score}"),
            "aws/securityhub/FindingId": format!("arn:aws:securityhub:{region}::product/aws/inspector/{}", rng.hex(16)),
            "aws/securityhub/ProductName": "Inspector",
            "aws/securityhub/CompanyName": "Amazon"
        },
        "Resources": [{
            "Type": "AwsEc2Instance",
            "Id": format!("arn:aws:ec2:{region}:{account}:instance/{instance}"),
            "Partition": "aws",
            "Region": region,
            "Tags": { "Name": format!("web-{}", rng.below(100)), "Environment": rng.pick(&["prod", "staging", "dev"]) },
            "Details": {
                "AwsEc2Instance": {
                    "Type": rng.pick(&["t3.micro", "m5.large", "c6g.xlarge"]),
                    "ImageId": format!("ami-{}", rng.hex(17)),
                    "IpV4Addresses": [format!("10.{}.{}.{}", rng.below(256), rng.below(256), rng.below(256))],
                    "KeyName": "ops",
                    "LaunchedAt": rng.timestamp(),
                    "SubnetId": format!("subnet-{}", rng.hex(17)),
                    "VpcId": format!("vpc-{}", rng.hex(17)),
                    "Platform": "AMAZON_LINUX_2"
                }
            }
        }],
        "Compliance": { "Status": "FAILED" },
        "WorkflowState": "NEW",
        "Workflow": { "Status": workflow },
        "RecordState": record_state,
        "Vulnerabilities": [{
            "Id": cve,
            "VulnerablePackages": packages,
            "Cvss": [
                { "Version": "3.1", "BaseScore": score, "BaseVector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "Source": "NVD" },
                { "Version": "2.0", "BaseScore": (score * 0.9 * 10.0).round() / 10.0, "BaseVector": "AV:N/AC:L/Au:N/C:P/I:P/A:P", "Source": "NVD" }
            ],
            "Vendor": { "Name": "NVD", "Url": format!("https://nvd.nist.gov/vuln/detail/{cve}"), "VendorSeverity": severity, "VendorCreatedAt": rng.timestamp() },
            "ReferenceUrls": [format!("https://nvd.nist.gov/vuln/detail/{cve}"), "https://access.redhat.com/security/cve".to_owned()],
            "FixAvailable": if rng.chance(70) { "YES" } else { "NO" },
            "ExploitAvailable": if rng.chance(20) { "YES" } else { "NO" }
        }],
        "FindingProviderFields": { "Severity": { "Label": severity }, "Types": ["Software and Configuration Checks/Vulnerabilities/CVE"] }
    })
}

/// A record's mapped output, or `None` when the filter dropped it.
type Output = Option<Map<String, Value>>;

struct Record {
    kind: Kind,
    bytes: Vec<u8>,
}

fn generate(records: usize) -> Vec<Record> {
    let mut rng = Rng(0x7472_6962_7574_6172);
    (0..records)
        .map(|n| {
            let kind = Kind::ALL[n % Kind::ALL.len()];
            let value = match kind {
                Kind::OktaUser => okta_user(&mut rng, n),
                Kind::GithubMember => github_member(&mut rng, n),
                Kind::AsffFinding => asff_finding(&mut rng, n),
            };
            Record {
                kind,
                bytes: serde_json::to_vec(&value).expect("a generated payload serialises"),
            }
        })
        .collect()
}

struct Compiled {
    filter: Program,
    map: Program,
}

fn compile(engine: &CelEngine, kind: Kind) -> anyhow::Result<Compiled> {
    let (filter, map) = kind.expressions();
    Ok(Compiled {
        filter: engine.compile(filter)?,
        map: engine.compile(map)?,
    })
}

/// The mapping a shipped definition applies to payloads of `kind`, where one reads that shape:
/// Okta's accounts and AWS Security Hub's vulnerabilities (GitHub's member mapping reads the
/// GraphQL shape, not the REST members generated here).
fn compile_shipped(engine: &CelEngine, kind: Kind) -> anyhow::Result<Option<Compiled>> {
    let config = tributary_providers::CatalogConfig::default();
    let definition = match kind {
        Kind::OktaUser => tributary_providers::okta::definition(&config),
        Kind::AsffFinding => tributary_providers::aws_security_hub::definition(&config),
        Kind::GithubMember => return Ok(None),
    };
    let schema = match kind {
        Kind::AsffFinding => "Vulnerability",
        _ => "DirectoryAccount",
    };
    let mapping = definition
        .mapping_for(schema, "")
        .ok_or_else(|| anyhow::anyhow!("{} maps no {schema}", definition.id()))?;
    Ok(Some(Compiled {
        filter: engine.compile(&mapping.filter)?,
        map: engine.compile(&mapping.map)?,
    }))
}

/// One record through our pipeline; returns the serialised output, if the filter passed.
fn ours(
    engine: &CelEngine,
    compiled: &Compiled,
    record: &Record,
) -> anyhow::Result<Option<Vec<u8>>> {
    let payload = engine.parse_payload(&record.bytes)?;
    let activation = Activation::new(record.kind.variant(), "bench", "list", &payload);
    if !compiled.filter.filter(&activation)? {
        return Ok(None);
    }
    let mapped = compiled.map.map(&activation)?;
    Ok(Some(serde_json::to_vec(&mapped)?))
}

/// The baseline for one record: parse, and serialise the (precomputed) output.
fn baseline(record: &Record, output: Option<&Map<String, Value>>) -> anyhow::Result<usize> {
    let payload: Value = serde_json::from_slice(&record.bytes)?;
    let written = match output {
        Some(output) => serde_json::to_vec(output)?.len(),
        None => 0,
    };
    Ok(written + usize::from(payload.is_object()))
}

/// Records per alternation between our pipeline and the baseline.
const CHUNK: usize = 250;

/// Elapsed CPU time of this thread and wall-clock time, in seconds.
#[derive(Default)]
struct Times {
    cpu: f64,
    wall: f64,
}

impl Times {
    fn now() -> Self {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec and the clock id is a constant the kernel
        // knows; the call only writes `ts`.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        let cpu = if rc == 0 {
            ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
        } else {
            f64::NAN
        };
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(f64::NAN, |d| d.as_secs_f64());
        Self { cpu, wall }
    }

    fn add_since(&mut self, start: &Times) {
        let now = Times::now();
        self.cpu += now.cpu - start.cpu;
        self.wall += now.wall - start.wall;
    }
}

struct Figures {
    records: usize,
    passed: usize,
    ours: Times,
    baseline: Times,
    payload_bytes_avg: f64,
}

fn measure(
    engine: &CelEngine,
    compiled: &[(Kind, Compiled)],
    records: &[&Record],
    outputs: &[Output],
) -> anyhow::Result<Figures> {
    let lookup = |kind: Kind| {
        compiled
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, c)| c)
            .expect("every kind is compiled")
    };
    // The two sides alternate chunk by chunk, and each is timed by the CPU time of this thread
    // as well as by the wall clock: on a shared machine, the wall clock also counts the time
    // other processes hold the core, which would favour whichever side ran when it was quiet.
    let mut passed = 0usize;
    let mut sink = 0usize;
    let mut ours_time = Times::default();
    let mut baseline_time = Times::default();
    for (chunk, chunk_outputs) in records.chunks(CHUNK).zip(outputs.chunks(CHUNK)) {
        let start = Times::now();
        for record in chunk {
            if let Some(out) = ours(engine, lookup(record.kind), record)? {
                passed += 1;
                sink = sink.wrapping_add(out.len());
            }
        }
        ours_time.add_since(&start);

        let start = Times::now();
        for (record, output) in chunk.iter().zip(chunk_outputs) {
            sink = sink.wrapping_add(baseline(record, output.as_ref())?);
        }
        baseline_time.add_since(&start);
    }
    std::hint::black_box(sink);

    let bytes: usize = records.iter().map(|r| r.bytes.len()).sum();
    Ok(Figures {
        records: records.len(),
        passed,
        ours: ours_time,
        baseline: baseline_time,
        payload_bytes_avg: bytes as f64 / records.len().max(1) as f64,
    })
}

fn figures_json(f: &Figures) -> Value {
    let per_s = |secs: f64| (f.records as f64 / secs).round();
    let ratio = |ours: f64, baseline: f64| (baseline / ours * 1000.0).round() / 1000.0;
    json!({
        "records": f.records,
        "passed_filter": f.passed,
        "records_per_s": per_s(f.ours.cpu),
        "baseline_per_s": per_s(f.baseline.cpu),
        "ratio": ratio(f.ours.cpu, f.baseline.cpu),
        "wall_clock": {
            "records_per_s": per_s(f.ours.wall),
            "baseline_per_s": per_s(f.baseline.wall),
            "ratio": ratio(f.ours.wall, f.baseline.wall),
        },
        "payload_bytes_avg": f.payload_bytes_avg.round(),
    })
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let engine = CelEngine::default();
    let compiled: Vec<(Kind, Compiled)> = Kind::ALL
        .iter()
        .map(|&kind| compile(&engine, kind).map(|c| (kind, c)))
        .collect::<anyhow::Result<_>>()?;
    let records = generate(args.records);
    let all: Vec<&Record> = records.iter().collect();

    let outputs = outputs_of(&engine, &compiled, &all)?;
    let total = measure(&engine, &compiled, &all, &outputs)?;
    let mut per_kind = Map::new();
    for kind in Kind::ALL {
        let (subset, subset_outputs) = of_kind(kind, &all, &outputs);
        let figures = measure(&engine, &compiled, &subset, &subset_outputs)?;
        per_kind.insert(kind.name().to_owned(), figures_json(&figures));
    }

    // The same payloads through the mappings the definitions ship.
    let mut shipped = Map::new();
    for kind in Kind::ALL {
        let Some(mapping) = compile_shipped(&engine, kind)? else {
            continue;
        };
        let compiled = [(kind, mapping)];
        let subset: Vec<&Record> = all.iter().copied().filter(|r| r.kind == kind).collect();
        let subset_outputs = outputs_of(&engine, &compiled, &subset)?;
        let figures = measure(&engine, &compiled, &subset, &subset_outputs)?;
        shipped.insert(kind.name().to_owned(), figures_json(&figures));
    }

    let mut report = figures_json(&total);
    report["per_kind"] = Value::Object(per_kind);
    report["shipped_mappings"] = Value::Object(shipped);
    report["threads"] = json!(1);
    report["clock"] = json!("thread CPU time");
    crate::print_report(&report, args.json)
}

/// What `compiled` makes of each record, computed beforehand for the baseline to serialise; this
/// also checks that every payload maps without error.
fn outputs_of(
    engine: &CelEngine,
    compiled: &[(Kind, Compiled)],
    records: &[&Record],
) -> anyhow::Result<Vec<Output>> {
    records
        .iter()
        .map(|record| {
            let (_, c) = compiled
                .iter()
                .find(|(k, _)| *k == record.kind)
                .expect("every kind is compiled");
            let payload = engine.parse_payload(&record.bytes)?;
            let activation = Activation::new(record.kind.variant(), "bench", "list", &payload);
            Ok(if c.filter.filter(&activation)? {
                Some(c.map.map(&activation)?)
            } else {
                None
            })
        })
        .collect()
}

/// The records of one kind, with their outputs.
fn of_kind<'a>(
    kind: Kind,
    records: &[&'a Record],
    outputs: &[Output],
) -> (Vec<&'a Record>, Vec<Output>) {
    records
        .iter()
        .zip(outputs)
        .filter(|(r, _)| r.kind == kind)
        .map(|(r, o)| (*r, o.clone()))
        .unzip()
}
