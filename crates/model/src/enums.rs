//! The closed value sets of the models. A mapped value outside a set is rejected by the pipeline,
//! never stored.

/// Declares an enum whose mapping values are the listed strings, with serde, `VALUES`, `as_str`,
/// `FromStr` and the [`IngestField`](crate::IngestField) impls.
macro_rules! checked_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $value:literal),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $value)] $variant),+
        }

        impl $name {
            /// Every value a mapping may emit, in declaration order.
            pub const VALUES: &'static [&'static str] = &[$($value),+];

            pub fn as_str(&self) -> &'static str {
                match self { $(Self::$variant => $value),+ }
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::UnknownEnumValue;

            fn from_str(value: &str) -> Result<Self, Self::Err> {
                match value {
                    $($value => Ok(Self::$variant),)+
                    _ => Err($crate::UnknownEnumValue {
                        enum_name: stringify!($name),
                        allowed: Self::VALUES,
                    }),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        $crate::__ingest_field_impls!($name => $crate::ValueType::Enum($name::VALUES));
    };
}

/// A string that is not one of an enum's values. It does not echo the value, which may be payload
/// data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a {enum_name} value (expected one of {})", allowed.join("|"))]
pub struct UnknownEnumValue {
    pub enum_name: &'static str,
    pub allowed: &'static [&'static str],
}

checked_enum! {
    /// What kind of principal a directory account is.
    pub enum AccountType {
        /// A person.
        User = "USER",
        /// A non-human account used by software.
        Service = "SERVICE",
        /// An account several people share.
        Shared = "SHARED",
        /// An external collaborator or guest.
        Guest = "GUEST",
        /// A chat bot or app user.
        Bot = "BOT",
    }
}

checked_enum! {
    /// Lifecycle state of a directory account at the provider.
    pub enum AccountStatus {
        Active = "ACTIVE",
        /// Invited or provisioned but not yet activated.
        Pending = "PENDING",
        /// Temporarily blocked (suspended, locked out).
        Suspended = "SUSPENDED",
        /// Deactivated but still present at the provider.
        Inactive = "INACTIVE",
        /// Deleted at the provider (soft-deleted there, still listed).
        Deleted = "DELETED",
    }
}

checked_enum! {
    /// Whether multi-factor authentication is enforced for an account.
    pub enum MfaState {
        Enabled = "ENABLED",
        Disabled = "DISABLED",
        /// The provider does not say.
        Unknown = "UNKNOWN",
    }
}

checked_enum! {
    /// What a directory group is used for.
    pub enum GroupClassification {
        /// Grants access (security group, team with permissions).
        Security = "SECURITY",
        /// A mailing list.
        Distribution = "DISTRIBUTION",
        /// A team or organisational unit.
        Team = "TEAM",
        /// Membership computed by rules.
        Dynamic = "DYNAMIC",
        Unknown = "UNKNOWN",
    }
}

checked_enum! {
    /// Lifecycle state of a directory group at the provider.
    pub enum GroupStatus {
        Active = "ACTIVE",
        Inactive = "INACTIVE",
        Deleted = "DELETED",
    }
}

checked_enum! {
    /// The role an account holds in a group.
    pub enum MembershipRole {
        Member = "MEMBER",
        Manager = "MANAGER",
        Owner = "OWNER",
    }
}

checked_enum! {
    /// Severity of a finding or vulnerability, normalised across providers.
    pub enum Severity {
        Critical = "CRITICAL",
        High = "HIGH",
        Medium = "MEDIUM",
        Low = "LOW",
        Informational = "INFORMATIONAL",
        /// The provider gives none.
        Unknown = "UNKNOWN",
    }
}

checked_enum! {
    /// Workflow state of a finding.
    pub enum FindingStatus {
        Open = "OPEN",
        InProgress = "IN_PROGRESS",
        Resolved = "RESOLVED",
        /// Accepted or muted at the provider.
        Suppressed = "SUPPRESSED",
    }
}

checked_enum! {
    /// Workflow state of a vulnerability.
    pub enum VulnerabilityStatus {
        Open = "OPEN",
        InProgress = "IN_PROGRESS",
        Fixed = "FIXED",
        /// Dismissed or marked not applicable at the provider.
        Dismissed = "DISMISSED",
    }
}

checked_enum! {
    /// Workflow state of a risk.
    pub enum RiskStatus {
        Identified = "IDENTIFIED",
        Mitigating = "MITIGATING",
        Mitigated = "MITIGATED",
        Accepted = "ACCEPTED",
        Closed = "CLOSED",
    }
}

checked_enum! {
    /// A four-step scale for likelihood, impact and criticality.
    pub enum Level {
        Low = "LOW",
        Medium = "MEDIUM",
        High = "HIGH",
        Critical = "CRITICAL",
    }
}

checked_enum! {
    /// What kind of thing an asset is.
    pub enum AssetType {
        /// A laptop, phone or other endpoint.
        Device = "DEVICE",
        /// A physical or virtual machine.
        Server = "SERVER",
        /// A managed cloud resource (bucket, database, function...).
        CloudResource = "CLOUD_RESOURCE",
        /// A source code repository.
        Repository = "REPOSITORY",
        /// A SaaS application or installed software.
        Application = "APPLICATION",
        Domain = "DOMAIN",
        /// A database, bucket or other store of data.
        DataStore = "DATA_STORE",
        Network = "NETWORK",
        Other = "OTHER",
    }
}

checked_enum! {
    /// Lifecycle state of a contact.
    pub enum ContactStatus {
        Active = "ACTIVE",
        Inactive = "INACTIVE",
    }
}

checked_enum! {
    /// What kind of third party an entity is.
    pub enum EntityType {
        Vendor = "VENDOR",
        Customer = "CUSTOMER",
        Partner = "PARTNER",
        Other = "OTHER",
    }
}

checked_enum! {
    /// Lifecycle state of an entity relationship.
    pub enum EntityStatus {
        Active = "ACTIVE",
        /// Being evaluated (vendor review).
        UnderReview = "UNDER_REVIEW",
        Inactive = "INACTIVE",
    }
}
