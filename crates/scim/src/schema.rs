//! The discovery documents (RFC 7643 §5-§8): ServiceProviderConfig, ResourceTypes and Schemas
//! (core User with the Enterprise User extension, core Group), as the RFC defines the attributes.

use serde_json::{Value, json};

use crate::filter::{AttrPath, CompareOp, Filter, PatchPath};

pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
const SPC: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
const RESOURCE_TYPE: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
const SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/// Largest page a list answers.
pub const MAX_RESULTS: usize = 200;

/// An attribute definition with the RFC's defaults (a single-valued, optional, case-insensitive
/// read-write string returned by default, no uniqueness).
#[derive(Clone)]
struct Attr {
    name: &'static str,
    kind: &'static str,
    multi: bool,
    description: &'static str,
    required: bool,
    case_exact: bool,
    mutability: &'static str,
    returned: &'static str,
    uniqueness: &'static str,
    canonical: &'static [&'static str],
    reference_types: &'static [&'static str],
    subs: Vec<Attr>,
}

fn attr(name: &'static str, description: &'static str) -> Attr {
    Attr {
        name,
        kind: "string",
        multi: false,
        description,
        required: false,
        case_exact: false,
        mutability: "readWrite",
        returned: "default",
        uniqueness: "none",
        canonical: &[],
        reference_types: &[],
        subs: Vec::new(),
    }
}

impl Attr {
    fn kind(mut self, kind: &'static str) -> Self {
        self.kind = kind;
        self
    }
    fn multi(mut self) -> Self {
        self.multi = true;
        self
    }
    fn required(mut self) -> Self {
        self.required = true;
        self
    }
    fn exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    fn mutability(mut self, m: &'static str) -> Self {
        self.mutability = m;
        self
    }
    fn returned(mut self, r: &'static str) -> Self {
        self.returned = r;
        self
    }
    fn unique(mut self, u: &'static str) -> Self {
        self.uniqueness = u;
        self
    }
    fn canonical(mut self, values: &'static [&'static str]) -> Self {
        self.canonical = values;
        self
    }
    fn reference(mut self, types: &'static [&'static str]) -> Self {
        self.kind = "reference";
        self.reference_types = types;
        self
    }
    fn complex(mut self, subs: Vec<Attr>) -> Self {
        self.kind = "complex";
        self.subs = subs;
        self
    }

    fn document(&self) -> Value {
        let mut doc = json!({
            "name": self.name,
            "type": self.kind,
            "multiValued": self.multi,
            "description": self.description,
            "required": self.required,
            "mutability": self.mutability,
            "returned": self.returned,
        });
        let object = doc.as_object_mut().expect("an object");
        if self.kind != "complex" && self.kind != "boolean" {
            object.insert("caseExact".into(), json!(self.case_exact));
            object.insert("uniqueness".into(), json!(self.uniqueness));
        }
        if !self.canonical.is_empty() {
            object.insert("canonicalValues".into(), json!(self.canonical));
        }
        if self.kind == "reference" {
            object.insert("referenceTypes".into(), json!(self.reference_types));
        }
        if self.kind == "complex" {
            object.insert(
                "subAttributes".into(),
                Value::Array(self.subs.iter().map(Attr::document).collect()),
            );
        }
        doc
    }
}

/// A multi-valued complex attribute of the usual `value`/`display`/`type`/`primary` shape.
fn plural(
    name: &'static str,
    description: &'static str,
    value_description: &'static str,
    types: &'static [&'static str],
) -> Attr {
    attr(name, description).multi().complex(vec![
        attr("value", value_description),
        attr("display", "A human-readable name, primarily used for display purposes. READ-ONLY."),
        attr("type", "A label indicating the attribute's function.").canonical(types),
        attr("primary", "A Boolean value indicating the 'primary' or preferred attribute value for this attribute.").kind("boolean"),
    ])
}

fn user_attributes() -> Vec<Attr> {
    vec![
        attr("userName", "Unique identifier for the User, typically used by the user to directly authenticate to the service provider. Each User MUST include a non-empty userName value. This identifier MUST be unique across the service provider's entire set of Users. REQUIRED.")
            .required()
            .unique("server"),
        attr("name", "The components of the user's real name. Providers MAY return just the full name as a single string in the formatted sub-attribute, or they MAY return just the individual component attributes using the other sub-attributes, or they MAY return both. If both variants are returned, they SHOULD be describing the same name, with the formatted name indicating how the component attributes should be combined.")
            .complex(vec![
                attr("formatted", "The full name, including all middle names, titles, and suffixes as appropriate, formatted for display (e.g., 'Ms. Barbara J Jensen, III')."),
                attr("familyName", "The family name of the User, or last name in most Western languages (e.g., 'Jensen' given the full name 'Ms. Barbara J Jensen, III')."),
                attr("givenName", "The given name of the User, or first name in most Western languages (e.g., 'Barbara' given the full name 'Ms. Barbara J Jensen, III')."),
                attr("middleName", "The middle name(s) of the User (e.g., 'Jane' given the full name 'Ms. Barbara J Jensen, III')."),
                attr("honorificPrefix", "The honorific prefix(es) of the User, or title in most Western languages (e.g., 'Ms.' given the full name 'Ms. Barbara J Jensen, III')."),
                attr("honorificSuffix", "The honorific suffix(es) of the User, or suffix in most Western languages (e.g., 'III' given the full name 'Ms. Barbara J Jensen, III')."),
            ]),
        attr("displayName", "The name of the User, suitable for display to end-users. The name SHOULD be the full name of the User being described, if known."),
        attr("nickName", "The casual way to address the user in real life, e.g., 'Bob' or 'Bobby' instead of 'Robert'. This attribute SHOULD NOT be used to represent a User's username (e.g., 'bjensen' or 'mpepperidge')."),
        attr("profileUrl", "A fully qualified URL pointing to a page representing the User's online profile.").reference(&["external"]),
        attr("title", "The user's title, such as \"Vice President.\""),
        attr("userType", "Used to identify the relationship between the organization and the user. Typical values used might be 'Contractor', 'Employee', 'Intern', 'Temp', 'External', and 'Unknown', but any value may be used."),
        attr("preferredLanguage", "Indicates the User's preferred written or spoken language. Generally used for selecting a localized user interface; e.g., 'en_US' specifies the language English and country US."),
        attr("locale", "Used to indicate the User's default location for purposes of localizing items such as currency, date time format, or numerical representations."),
        attr("timezone", "The User's time zone in the 'Olson' time zone database format, e.g., 'America/Los_Angeles'."),
        attr("active", "A Boolean value indicating the User's administrative status.").kind("boolean"),
        attr("password", "The User's cleartext password. This attribute is intended to be used as a means to specify an initial password when creating a new User or to reset an existing User's password.")
            .mutability("writeOnly")
            .returned("never"),
        plural("emails", "Email addresses for the user. The value SHOULD be canonicalized by the service provider, e.g., 'bjensen@example.com' instead of 'bjensen@EXAMPLE.COM'. Canonical type values of 'work', 'home', and 'other'.", "Email addresses for the user. The value SHOULD be canonicalized by the service provider, e.g., 'bjensen@example.com' instead of 'bjensen@EXAMPLE.COM'. Canonical type values of 'work', 'home', and 'other'.", &["work", "home", "other"]),
        plural("phoneNumbers", "Phone numbers for the User. The value SHOULD be canonicalized by the service provider according to the format specified in RFC 3966, e.g., 'tel:+1-201-555-0123'. Canonical type values of 'work', 'home', 'mobile', 'fax', 'pager', and 'other'.", "Phone number of the User.", &["work", "home", "mobile", "fax", "pager", "other"]),
        plural("ims", "Instant messaging addresses for the User.", "Instant messaging address for the User.", &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"]),
        attr("photos", "URLs of photos of the User.").multi().complex(vec![
            attr("value", "URL of a photo of the User.").reference(&["external"]),
            attr("display", "A human-readable name, primarily used for display purposes. READ-ONLY."),
            attr("type", "A label indicating the attribute's function, i.e., 'photo' or 'thumbnail'.").canonical(&["photo", "thumbnail"]),
            attr("primary", "A Boolean value indicating the 'primary' or preferred attribute value for this attribute, e.g., the preferred photo or thumbnail. The primary attribute value 'true' MUST appear no more than once.").kind("boolean"),
        ]),
        attr("addresses", "A physical mailing address for this User. Canonical type values of 'work', 'home', and 'other'. This attribute is a complex type with the following sub-attributes.").multi().complex(vec![
            attr("formatted", "The full mailing address, formatted for display or use with a mailing label. This attribute MAY contain newlines."),
            attr("streetAddress", "The full street address component, which may include house number, street name, P.O. box, and multi-line extended street address information. This attribute MAY contain newlines."),
            attr("locality", "The city or locality component."),
            attr("region", "The state or region component."),
            attr("postalCode", "The zip code or postal code component."),
            attr("country", "The country name component."),
            attr("type", "A label indicating the attribute's function, e.g., 'work' or 'home'.").canonical(&["work", "home", "other"]),
            attr("primary", "A Boolean value indicating the 'primary' or preferred attribute value for this attribute, e.g., the preferred mailing address or primary email address. The primary attribute value 'true' MUST appear no more than once.").kind("boolean"),
        ]),
        attr("groups", "A list of groups to which the user belongs, either through direct membership, through nested groups, or dynamically calculated.").multi().mutability("readOnly").complex(vec![
            attr("value", "The identifier of the User's group.").mutability("readOnly"),
            attr("$ref", "The URI of the corresponding 'Group' resource to which the user belongs.").reference(&["User", "Group"]).mutability("readOnly"),
            attr("display", "A human-readable name, primarily used for display purposes. READ-ONLY.").mutability("readOnly"),
            attr("type", "A label indicating the attribute's function, e.g., 'direct' or 'indirect'.").canonical(&["direct", "indirect"]).mutability("readOnly"),
        ]),
        plural("entitlements", "A list of entitlements for the User that represent a thing the User has.", "The value of an entitlement.", &[]),
        plural("roles", "A list of roles for the User that collectively represent who the User is, e.g., 'Student', 'Faculty'.", "The value of a role.", &[]),
        attr("x509Certificates", "A list of certificates issued to the User.").multi().complex(vec![
            attr("value", "The value of an X.509 certificate.").kind("binary").exact(),
            attr("display", "A human-readable name, primarily used for display purposes. READ-ONLY."),
            attr("type", "A label indicating the attribute's function."),
            attr("primary", "A Boolean value indicating the 'primary' or preferred attribute value for this attribute. The primary attribute value 'true' MUST appear no more than once.").kind("boolean"),
        ]),
    ]
}

fn enterprise_attributes() -> Vec<Attr> {
    vec![
        attr("employeeNumber", "Numeric or alphanumeric identifier assigned to a person, typically based on order of hire or association with an organization."),
        attr("costCenter", "Identifies the name of a cost center."),
        attr("organization", "Identifies the name of an organization."),
        attr("division", "Identifies the name of a division."),
        attr("department", "Identifies the name of a department."),
        attr("manager", "The User's manager. A complex type that optionally allows service providers to represent organizational hierarchy by referencing the 'id' attribute of another User.").complex(vec![
            attr("value", "The id of the SCIM resource representing the User's manager. REQUIRED."),
            attr("$ref", "The URI of the SCIM resource representing the User's manager. REQUIRED.").reference(&["User"]),
            attr("displayName", "The displayName of the User's manager. OPTIONAL and READ-ONLY.").mutability("readOnly"),
        ]),
    ]
}

fn group_attributes() -> Vec<Attr> {
    vec![
        attr(
            "displayName",
            "A human-readable name for the Group. REQUIRED.",
        )
        .required()
        .unique("server"),
        attr("members", "A list of members of the Group.")
            .multi()
            .complex(vec![
                attr("value", "Identifier of the member of this Group.").mutability("immutable"),
                attr(
                    "$ref",
                    "The URI corresponding to a SCIM resource that is a member of this Group.",
                )
                .reference(&["User", "Group"])
                .mutability("immutable"),
                attr(
                    "type",
                    "A label indicating the type of resource, e.g., 'User' or 'Group'.",
                )
                .canonical(&["User", "Group"])
                .mutability("immutable"),
                attr(
                    "display",
                    "A human-readable name, primarily used for display purposes.",
                )
                .mutability("readOnly"),
            ]),
    ]
}

fn schema_document(id: &str, name: &str, description: &str, attrs: Vec<Attr>, base: &str) -> Value {
    json!({
        "schemas": [SCHEMA],
        "id": id,
        "name": name,
        "description": description,
        "attributes": attrs.iter().map(Attr::document).collect::<Vec<_>>(),
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{id}")}
    })
}

/// The three schema documents, User first.
pub fn schemas(base: &str) -> Vec<Value> {
    vec![
        schema_document(USER, "User", "User Account", user_attributes(), base),
        schema_document(
            ENTERPRISE,
            "EnterpriseUser",
            "Enterprise User",
            enterprise_attributes(),
            base,
        ),
        schema_document(GROUP, "Group", "Group", group_attributes(), base),
    ]
}

/// The two resource types.
pub fn resource_types(base: &str) -> Vec<Value> {
    vec![
        json!({
            "schemas": [RESOURCE_TYPE],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "User Account",
            "schema": USER,
            "schemaExtensions": [{"schema": ENTERPRISE, "required": false}],
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User")}
        }),
        json!({
            "schemas": [RESOURCE_TYPE],
            "id": "Group",
            "name": "Group",
            "endpoint": "/Groups",
            "description": "Group",
            "schema": GROUP,
            "schemaExtensions": [],
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group")}
        }),
    ]
}

/// The service provider configuration.
pub fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": [SPC],
        "documentationUri": "https://github.com/tributary/tributary/blob/main/docs/providers/scim.md",
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "The bearer secret of this SCIM endpoint, shown once when the endpoint is created or its secret rotated.",
            "specUri": "https://www.rfc-editor.org/rfc/rfc6750",
            "primary": true
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")}
    })
}

/// Attribute metadata the server needs: `(name, returned, mutability)` of the top-level
/// attributes of a resource's core schema and its extension.
pub fn attribute_rules(resource_schema: &str) -> Vec<(String, &'static str, &'static str)> {
    let attrs = if resource_schema == USER {
        user_attributes()
    } else {
        group_attributes()
    };
    let mut rules: Vec<_> = attrs
        .iter()
        .map(|a| (a.name.to_owned(), a.returned, a.mutability))
        .collect();
    if resource_schema == USER {
        rules.extend(
            enterprise_attributes()
                .iter()
                .map(|a| (format!("{ENTERPRISE}:{}", a.name), a.returned, a.mutability)),
        );
    }
    rules
}

/// Whether `name` (case-insensitively) is a known attribute of the resource or a core one.
pub fn known_attribute(resource_schema: &str, name: &str) -> bool {
    ["id", "externalId", "meta", "schemas"]
        .iter()
        .any(|n| n.eq_ignore_ascii_case(name))
        || attribute_rules(resource_schema)
            .iter()
            .any(|(n, _, _)| n.eq_ignore_ascii_case(name))
}

/// The attributes every resource has (RFC 7643 §3.1).
fn common_attributes() -> Vec<Attr> {
    vec![
        attr("id", "A unique identifier for a SCIM resource as defined by the service provider.")
            .exact()
            .mutability("readOnly"),
        attr("externalId", "A String that is an identifier for the resource as defined by the provisioning client.").exact(),
        attr("meta", "A complex attribute containing resource metadata.")
            .mutability("readOnly")
            .complex(vec![
                attr("resourceType", "The name of the resource type of the resource."),
                attr("created", "The DateTime that the resource was added to the service provider.").kind("dateTime"),
                attr("lastModified", "The most recent DateTime that the details of this resource were updated at the service provider.").kind("dateTime"),
                attr("location", "The URI of the resource being returned.").reference(&["uri"]),
                attr("version", "The version of the resource being returned.").exact(),
            ]),
    ]
}

/// The type of what an attribute path names: an attribute or one of its sub-attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttrType {
    /// `string`, `boolean`, `dateTime`, `reference`, `binary` or `complex`.
    pub kind: &'static str,
    pub multi: bool,
    /// A complex attribute's `value` sub-attribute's type: a filter comparing the attribute
    /// itself compares that (`emails eq "x"`).
    pub value_kind: Option<&'static str>,
}

/// What `path` names in the resource type: a common or core attribute, or (for a User) one of
/// the Enterprise User extension when the path carries its URI; `None` when it names nothing.
pub fn attribute_type(resource_schema: &str, path: &AttrPath) -> Option<AttrType> {
    let extension = match path.uri.as_deref() {
        None => false,
        Some(uri) if uri.eq_ignore_ascii_case(resource_schema) => false,
        Some(uri) if resource_schema == USER && uri.eq_ignore_ascii_case(ENTERPRISE) => true,
        Some(_) => return None,
    };
    let mut attrs = attributes_of(resource_schema, extension);
    if !extension {
        attrs.extend(common_attributes());
    }
    let attribute = attrs
        .into_iter()
        .find(|a| a.name.eq_ignore_ascii_case(&path.attr))?;
    let value_kind = |a: &Attr| a.subs.iter().find(|s| s.name == "value").map(|s| s.kind);
    match &path.sub {
        None => Some(AttrType {
            kind: attribute.kind,
            multi: attribute.multi,
            value_kind: value_kind(&attribute),
        }),
        Some(sub) => attribute
            .subs
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(sub))
            .map(|s| AttrType {
                kind: s.kind,
                multi: s.multi,
                value_kind: value_kind(s),
            }),
    }
}

/// Whether `path` names an attribute of the resource, or a sub-attribute of one (what `sortBy`
/// may name).
pub fn known_path(resource_schema: &str, path: &AttrPath) -> bool {
    attribute_type(resource_schema, path).is_some()
}

/// Checks a filter against the resource type's schema (RFC 7644 §3.4.2.2): every attribute it
/// names exists, and every comparison value has its attribute's type (a dateTime's is an RFC
/// 3339 instant). The answer says what is wrong. The filter is walked with an explicit stack, as
/// the parser builds it (see [`crate::filter`]).
pub fn check_filter(resource_schema: &str, filter: &Filter) -> Result<(), String> {
    check_filter_within(resource_schema, filter, None)
}

/// [`check_filter`], of a value filter's condition when `within` is the multi-valued attribute
/// it selects elements of (its paths then name sub-attributes).
fn check_filter_within(
    resource_schema: &str,
    filter: &Filter,
    within: Option<&AttrPath>,
) -> Result<(), String> {
    let mut pending: Vec<(&Filter, Option<&AttrPath>)> = vec![(filter, within)];
    while let Some((filter, within)) = pending.pop() {
        match filter {
            Filter::And(terms) | Filter::Or(terms) => {
                pending.extend(terms.iter().map(|term| (term, within)));
            }
            Filter::Not(inner) => pending.push((inner, within)),
            Filter::Present(path) => {
                resolve_filter_path(resource_schema, path, within)?;
            }
            Filter::Compare(path, op, value) => {
                let found = resolve_filter_path(resource_schema, path, within)?;
                check_comparison(path, found, *op, value)?;
            }
            Filter::ValuePath(path, inner) => {
                if within.is_some() {
                    return Err(format!(
                        "a value filter inside a value filter: {}",
                        path_text(path)
                    ));
                }
                let found = resolve_filter_path(resource_schema, path, None)?;
                if found.kind != "complex" || path.sub.is_some() {
                    return Err(format!(
                        "{} is not a complex attribute; it has no values to filter",
                        path_text(path)
                    ));
                }
                pending.push((inner, Some(path)));
            }
        }
    }
    Ok(())
}

/// Checks a PATCH path against the resource type's schema (RFC 7644 §3.5.2): its attribute and
/// sub-attribute exist, a value filter selects elements of a multi-valued complex attribute and
/// fits its sub-attributes (see [`check_filter`]).
pub fn check_patch_path(resource_schema: &str, path: &PatchPath) -> Result<(), String> {
    let found = attribute_type(resource_schema, &path.attr).ok_or_else(|| {
        format!(
            "{:?} names no attribute of the resource",
            path_text(&path.attr)
        )
    })?;
    let Some(filter) = &path.filter else {
        return Ok(());
    };
    if found.kind != "complex" || !found.multi || path.attr.sub.is_some() {
        return Err(format!(
            "{} is not a multi-valued complex attribute; a value filter needs one",
            path_text(&path.attr)
        ));
    }
    check_filter_within(resource_schema, filter, Some(&path.attr))?;
    if let Some(sub) = &path.sub {
        let sub_path = AttrPath {
            uri: path.attr.uri.clone(),
            attr: path.attr.attr.clone(),
            sub: Some(sub.clone()),
        };
        if attribute_type(resource_schema, &sub_path).is_none() {
            return Err(format!(
                "{:?} names no attribute of the resource",
                path_text(&sub_path)
            ));
        }
    }
    Ok(())
}

fn path_text(path: &AttrPath) -> String {
    let mut text = String::new();
    if let Some(uri) = &path.uri {
        text.push_str(uri);
        text.push(':');
    }
    text.push_str(&path.attr);
    if let Some(sub) = &path.sub {
        text.push('.');
        text.push_str(sub);
    }
    text
}

/// The type of a filter's attribute path; inside a value filter over `within`, the path is a
/// sub-attribute of `within`'s attribute.
fn resolve_filter_path(
    resource_schema: &str,
    path: &AttrPath,
    within: Option<&AttrPath>,
) -> Result<AttrType, String> {
    let unknown = || format!("{:?} names no attribute of the resource", path_text(path));
    let resolved = match within {
        None => path.clone(),
        Some(_) if path.uri.is_some() || path.sub.is_some() => return Err(unknown()),
        Some(outer) => AttrPath {
            uri: outer.uri.clone(),
            attr: outer.attr.clone(),
            sub: Some(path.attr.clone()),
        },
    };
    attribute_type(resource_schema, &resolved).ok_or_else(|| {
        format!(
            "{:?} names no attribute of the resource",
            path_text(&resolved)
        )
    })
}

fn check_comparison(
    path: &AttrPath,
    found: AttrType,
    op: CompareOp,
    value: &Value,
) -> Result<(), String> {
    let name = path_text(path);
    let kind = match (found.kind, found.value_kind) {
        ("complex", Some(kind)) => kind,
        ("complex", None) => {
            return Err(format!(
                "{name} is a complex attribute; compare one of its sub-attributes"
            ));
        }
        (kind, _) => kind,
    };
    let matches = match (kind, value) {
        // `eq null` / `ne null`: absent or present (the parser allows no other operator).
        (_, Value::Null) => true,
        ("boolean", Value::Bool(_)) => true,
        ("string" | "reference" | "binary", Value::String(_)) => true,
        ("integer" | "decimal", Value::Number(_)) => true,
        ("dateTime", Value::String(text)) => {
            // `co`, `sw` and `ew` compare the text; the others compare instants.
            matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew)
                || chrono::DateTime::parse_from_rfc3339(text).is_ok()
        }
        _ => false,
    };
    if matches {
        Ok(())
    } else if kind == "dateTime" && value.is_string() {
        Err(format!(
            "{name} is a dateTime and {value} is not one (RFC 3339, e.g. \"2011-05-13T04:42:34Z\")"
        ))
    } else {
        Err(format!(
            "{name} is a {kind} attribute and {value} is not a {kind}"
        ))
    }
}

/// The attributes of a resource type's core schema, or of its extension (Users only).
fn attributes_of(resource_schema: &str, extension: bool) -> Vec<Attr> {
    match (resource_schema == USER, extension) {
        (true, false) => user_attributes(),
        (true, true) => enterprise_attributes(),
        _ => group_attributes(),
    }
}

/// The attribute definition document of `name` (a top-level attribute), for type checks.
pub fn attribute_kind(
    resource_schema: &str,
    extension: bool,
    name: &str,
) -> Option<(String, bool)> {
    let attrs = attributes_of(resource_schema, extension);
    attrs
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(name))
        .map(|a| (a.kind.to_owned(), a.multi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_paths() {
        let known = |schema: &str, path: &str| {
            known_path(schema, &crate::filter::parse_attr_path(path).unwrap())
        };
        for path in [
            "userName",
            "USERNAME",
            "name.givenName",
            "emails",
            "emails.value",
            "meta.created",
            "meta.lastModified",
            "id",
            "externalId",
            "urn:ietf:params:scim:schemas:core:2.0:User:userName",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        ] {
            assert!(known(USER, path), "{path}");
        }
        for path in [
            "nope",
            "name.nope",
            "userName.x",
            "meta.nope",
            "department",
            "urn:ietf:params:scim:schemas:core:2.0:Group:displayName",
            "urn:x:y",
        ] {
            assert!(!known(USER, path), "{path}");
        }
        assert!(known(GROUP, "displayName"));
        assert!(known(GROUP, "members.value"));
        assert!(!known(GROUP, "userName"));
    }

    #[test]
    fn filters_fit_the_schema() {
        let check = |schema: &str, filter: &str| {
            check_filter(schema, &crate::filter::parse_filter(filter).unwrap())
        };
        for filter in [
            r#"userName eq "a" and active eq true"#,
            r#"emails eq "a@x""#,
            r#"emails[type eq "work" and not (primary eq false)].value ew "x""#,
            r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
            r#"meta.created sw "2011""#,
            "title eq null",
            "groups.value pr",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value pr",
        ] {
            assert_eq!(check(USER, filter), Ok(()), "{filter}");
        }
        for filter in [
            r#"meta.lastModified gt "yesterday""#,
            r#"active eq "yes""#,
            "userName eq true",
            r#"nosuchattr eq "x""#,
            r#"name eq "x""#,
            r#"name[nosuch eq "x"]"#,
            r#"emails[value eq "x" or nosuch pr]"#,
            r#"emails[name.givenName pr]"#,
            r#"urn:ietf:params:scim:schemas:core:2.0:Group:displayName pr"#,
        ] {
            assert!(check(USER, filter).is_err(), "{filter}");
        }
        assert_eq!(check(GROUP, r#"members[value eq "1"]"#), Ok(()));
        assert!(check(GROUP, r#"userName eq "a""#).is_err());
    }

    #[test]
    fn documents_have_the_rfc_shape() {
        let schemas = schemas("https://x/scim/v2/e");
        assert_eq!(schemas.len(), 3);
        let user = &schemas[0];
        let user_name = &user["attributes"][0];
        assert_eq!(user_name["name"], "userName");
        assert_eq!(user_name["required"], true);
        assert_eq!(user_name["uniqueness"], "server");
        let password = user["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == "password")
            .unwrap();
        assert_eq!(password["returned"], "never");
        assert_eq!(password["mutability"], "writeOnly");
        assert_eq!(
            schemas[2]["attributes"][1]["subAttributes"][0]["mutability"],
            "immutable"
        );
        let types = resource_types("b");
        assert_eq!(types[0]["schemaExtensions"][0]["schema"], ENTERPRISE);
        assert_eq!(service_provider_config("b")["filter"]["maxResults"], 200);
    }
}
