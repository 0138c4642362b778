//! The attribute definitions of the resources the facade serves (RFC 7643 §4 and §8.7.1): one table
//! that drives `/Schemas`, PATCH typing and projection, so they cannot disagree.

use super::path::{ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA};

/// An attribute's data type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// `string`.
    String,
    /// `boolean`.
    Boolean,
    /// `complex` (has sub-attributes).
    Complex,
    /// `reference`.
    Reference,
    /// `dateTime`.
    DateTime,
    /// `binary` (base64).
    Binary,
}

impl Type {
    /// The RFC 7643 name.
    pub fn name(self) -> &'static str {
        match self {
            Type::String => "string",
            Type::Boolean => "boolean",
            Type::Complex => "complex",
            Type::Reference => "reference",
            Type::DateTime => "dateTime",
            Type::Binary => "binary",
        }
    }
}

/// `mutability`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    /// `readWrite`.
    ReadWrite,
    /// `readOnly`: writes are refused with `mutability`.
    ReadOnly,
    /// `immutable`.
    Immutable,
    /// `writeOnly`.
    WriteOnly,
}

impl Mutability {
    /// The RFC 7643 name.
    pub fn name(self) -> &'static str {
        match self {
            Mutability::ReadWrite => "readWrite",
            Mutability::ReadOnly => "readOnly",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        }
    }
}

/// `returned`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    /// `always`: returned whatever `attributes`/`excludedAttributes` say.
    Always,
    /// `never`.
    Never,
    /// `default`: returned unless excluded.
    Default,
    /// `request`: only when named in `attributes`.
    Request,
}

impl Returned {
    /// The RFC 7643 name.
    pub fn name(self) -> &'static str {
        match self {
            Returned::Always => "always",
            Returned::Never => "never",
            Returned::Default => "default",
            Returned::Request => "request",
        }
    }
}

/// `uniqueness`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    /// `none`.
    None,
    /// `server`.
    Server,
}

/// One attribute definition.
#[derive(Debug, Clone, Copy)]
pub struct Attribute {
    /// Canonical name.
    pub name: &'static str,
    /// Data type.
    pub kind: Type,
    /// `multiValued`.
    pub multi_valued: bool,
    /// `description`.
    pub description: &'static str,
    /// `required`.
    pub required: bool,
    /// `caseExact`.
    pub case_exact: bool,
    /// `mutability`.
    pub mutability: Mutability,
    /// `returned`.
    pub returned: Returned,
    /// `uniqueness`.
    pub uniqueness: Uniqueness,
    /// `canonicalValues`.
    pub canonical_values: &'static [&'static str],
    /// `referenceTypes`.
    pub reference_types: &'static [&'static str],
    /// Sub-attributes of a complex attribute.
    pub sub_attributes: &'static [Attribute],
}

impl Attribute {
    /// A sub-attribute by name, ignoring case.
    pub fn sub(&self, name: &str) -> Option<&'static Attribute> {
        self.sub_attributes
            .iter()
            .find(|attribute| attribute.name.eq_ignore_ascii_case(name))
    }
}

/// A schema: its URN, name and attributes.
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    /// The schema URN (also its `id`).
    pub id: &'static str,
    /// `name`.
    pub name: &'static str,
    /// `description`.
    pub description: &'static str,
    /// Top-level attributes.
    pub attributes: &'static [Attribute],
}

impl Schema {
    /// A top-level attribute by name, ignoring case.
    pub fn attribute(&self, name: &str) -> Option<&'static Attribute> {
        self.attributes
            .iter()
            .find(|attribute| attribute.name.eq_ignore_ascii_case(name))
    }
}

const fn attr(name: &'static str, kind: Type, description: &'static str) -> Attribute {
    Attribute {
        name,
        kind,
        multi_valued: false,
        description,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        returned: Returned::Default,
        uniqueness: Uniqueness::None,
        canonical_values: &[],
        reference_types: &[],
        sub_attributes: &[],
    }
}

const fn string(name: &'static str, description: &'static str) -> Attribute {
    attr(name, Type::String, description)
}

const fn multi(
    name: &'static str,
    description: &'static str,
    subs: &'static [Attribute],
) -> Attribute {
    let mut attribute = attr(name, Type::Complex, description);
    attribute.multi_valued = true;
    attribute.sub_attributes = subs;
    attribute
}

const fn complex(
    name: &'static str,
    description: &'static str,
    subs: &'static [Attribute],
) -> Attribute {
    let mut attribute = attr(name, Type::Complex, description);
    attribute.sub_attributes = subs;
    attribute
}

const fn typed(description: &'static str, values: &'static [&'static str]) -> Attribute {
    let mut attribute = string("type", description);
    attribute.canonical_values = values;
    attribute
}

const fn primary() -> Attribute {
    attr(
        "primary",
        Type::Boolean,
        "Whether this value is the preferred one; at most one is true.",
    )
}

const fn display() -> Attribute {
    string(
        "display",
        "A human-readable name, primarily used for display purposes.",
    )
}

const fn read_only(mut attribute: Attribute) -> Attribute {
    attribute.mutability = Mutability::ReadOnly;
    attribute
}

const fn case_exact(mut attribute: Attribute) -> Attribute {
    attribute.case_exact = true;
    attribute
}

const fn reference(
    name: &'static str,
    description: &'static str,
    types: &'static [&'static str],
) -> Attribute {
    let mut attribute = attr(name, Type::Reference, description);
    attribute.reference_types = types;
    attribute.case_exact = true;
    attribute
}

const EMAIL_SUBS: &[Attribute] = &[
    string("value", "Email address for the user."),
    display(),
    typed(
        "A label indicating the attribute's function.",
        &["work", "home", "other"],
    ),
    primary(),
];
const PHONE_SUBS: &[Attribute] = &[
    string("value", "Phone number of the user."),
    display(),
    typed(
        "A label indicating the attribute's function.",
        &["work", "home", "mobile", "fax", "pager", "other"],
    ),
    primary(),
];
const IM_SUBS: &[Attribute] = &[
    string("value", "Instant messaging address for the user."),
    display(),
    typed(
        "A label indicating the attribute's function.",
        &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"],
    ),
    primary(),
];
const PHOTO_SUBS: &[Attribute] = &[
    reference("value", "URL of a photo of the user.", &["external"]),
    display(),
    typed(
        "A label indicating the attribute's function.",
        &["photo", "thumbnail"],
    ),
    primary(),
];
const PLAIN_SUBS: &[Attribute] = &[
    string("value", "The value."),
    display(),
    string("type", "A label indicating the attribute's function."),
    primary(),
];
const CERT_SUBS: &[Attribute] = &[
    attr(
        "value",
        Type::Binary,
        "The value of an X.509 certificate (base64 DER).",
    ),
    display(),
    string("type", "A label indicating the attribute's function."),
    primary(),
];
const ADDRESS_SUBS: &[Attribute] = &[
    string(
        "formatted",
        "The full mailing address, formatted for display.",
    ),
    string("streetAddress", "The full street address component."),
    string("locality", "The city or locality component."),
    string("region", "The state or region component."),
    string("postalCode", "The zip code or postal code component."),
    string(
        "country",
        "The country name component (ISO 3166-1 alpha-2).",
    ),
    typed(
        "A label indicating the attribute's function.",
        &["work", "home", "other"],
    ),
    primary(),
];
const NAME_SUBS: &[Attribute] = &[
    string("formatted", "The full name, formatted for display."),
    string("familyName", "The family name of the User."),
    string("givenName", "The given name of the User."),
    string("middleName", "The middle name(s) of the User."),
    string("honorificPrefix", "The honorific prefix(es) of the User."),
    string("honorificSuffix", "The honorific suffix(es) of the User."),
];
const GROUP_REF_SUBS: &[Attribute] = &[
    read_only(case_exact(string(
        "value",
        "The identifier of the User's group.",
    ))),
    read_only(reference(
        "$ref",
        "The URI of the corresponding Group resource.",
        &["Group"],
    )),
    read_only(display()),
    read_only(typed(
        "How the membership came about: direct.",
        &["direct", "indirect"],
    )),
];
const MEMBER_SUBS: &[Attribute] = &[
    {
        let mut value = case_exact(string("value", "Identifier of the member of this Group."));
        value.mutability = Mutability::Immutable;
        value
    },
    {
        let mut reference = reference(
            "$ref",
            "The URI of the member resource.",
            &["User", "Group"],
        );
        reference.mutability = Mutability::Immutable;
        reference
    },
    {
        // Returned on request (`attributes=members.display`): clients identify members by
        // `value`, and leaving it out spares a join per member on large groups.
        let mut display = read_only(display());
        display.returned = Returned::Request;
        display
    },
    {
        let mut kind = typed("The type of the member.", &["User", "Group"]);
        kind.mutability = Mutability::Immutable;
        kind
    },
];
const MANAGER_SUBS: &[Attribute] = &[
    case_exact(string(
        "value",
        "The id of the SCIM resource representing the User's manager.",
    )),
    // readWrite as in RFC 7643 §8.7.1: a client may name the manager by its URI instead of its id.
    reference(
        "$ref",
        "The URI of the SCIM resource representing the User's manager.",
        &["User"],
    ),
    read_only(string(
        "displayName",
        "The displayName of the User's manager.",
    )),
];

/// The core User schema (RFC 7643 §4.1), as Roster supports it (no password: never accepted).
pub const USER: Schema = Schema {
    id: USER_SCHEMA,
    name: "User",
    description: "User Account",
    attributes: &[
        {
            let mut user_name = string(
                "userName",
                "Unique identifier for the User, compared case-insensitively.",
            );
            user_name.required = true;
            user_name.uniqueness = Uniqueness::Server;
            user_name
        },
        complex("name", "The components of the user's real name.", NAME_SUBS),
        string(
            "displayName",
            "The name of the User, suitable for display to end-users.",
        ),
        string(
            "nickName",
            "The casual way to address the user in real life.",
        ),
        reference(
            "profileUrl",
            "A fully qualified URL pointing to a page representing the User's online profile.",
            &["external"],
        ),
        string("title", "The user's title, such as \"Vice President\"."),
        string(
            "userType",
            "Used to identify the relationship between the organization and the user.",
        ),
        string(
            "preferredLanguage",
            "Indicates the User's preferred written or spoken language.",
        ),
        string(
            "locale",
            "Used to indicate the User's default location for localizing.",
        ),
        string(
            "timezone",
            "The User's time zone in the 'Olson' time zone database format.",
        ),
        attr(
            "active",
            Type::Boolean,
            "A Boolean value indicating the User's administrative status.",
        ),
        multi("emails", "Email addresses for the user.", EMAIL_SUBS),
        multi("phoneNumbers", "Phone numbers for the User.", PHONE_SUBS),
        multi("ims", "Instant messaging addresses for the User.", IM_SUBS),
        multi("photos", "URLs of photos of the User.", PHOTO_SUBS),
        multi(
            "addresses",
            "A physical mailing address for this User.",
            ADDRESS_SUBS,
        ),
        read_only(multi(
            "groups",
            "A list of groups to which the user belongs.",
            GROUP_REF_SUBS,
        )),
        multi(
            "entitlements",
            "A list of entitlements for the User.",
            PLAIN_SUBS,
        ),
        multi("roles", "A list of roles for the User.", PLAIN_SUBS),
        multi(
            "x509Certificates",
            "A list of certificates issued to the User.",
            CERT_SUBS,
        ),
    ],
};

/// The enterprise User extension (RFC 7643 §4.3).
pub const ENTERPRISE_USER: Schema = Schema {
    id: ENTERPRISE_USER_SCHEMA,
    name: "EnterpriseUser",
    description: "Enterprise User",
    attributes: &[
        string(
            "employeeNumber",
            "Numeric or alphanumeric identifier assigned to a person.",
        ),
        string("costCenter", "Identifies the name of a cost center."),
        string("organization", "Identifies the name of an organization."),
        string("division", "Identifies the name of a division."),
        string("department", "Identifies the name of a department."),
        complex("manager", "The User's manager.", MANAGER_SUBS),
    ],
};

/// The core Group schema (RFC 7643 §4.2).
pub const GROUP: Schema = Schema {
    id: GROUP_SCHEMA,
    name: "Group",
    description: "Group",
    attributes: &[
        {
            let mut display_name = string(
                "displayName",
                "A human-readable name for the Group, unique in the organization.",
            );
            display_name.required = true;
            display_name.uniqueness = Uniqueness::Server;
            display_name
        },
        multi("members", "A list of members of the Group.", MEMBER_SUBS),
    ],
};

/// Attributes every resource has (RFC 7643 §3.1), described in each schema's resource type.
pub const COMMON: &[Attribute] = &[
    {
        let mut id = read_only(case_exact(string(
            "id",
            "A unique identifier for the resource, assigned by the service provider.",
        )));
        id.returned = Returned::Always;
        id.uniqueness = Uniqueness::Server;
        id
    },
    case_exact(string(
        "externalId",
        "An identifier for the resource as defined by the provisioning client.",
    )),
    {
        let mut meta = read_only(complex(
            "meta",
            "Resource metadata.",
            &[
                read_only(string(
                    "resourceType",
                    "The name of the resource type of the resource.",
                )),
                read_only(attr(
                    "created",
                    Type::DateTime,
                    "When the resource was added.",
                )),
                read_only(attr(
                    "lastModified",
                    Type::DateTime,
                    "When the resource was last modified.",
                )),
                read_only(reference("location", "The URI of the resource.", &["uri"])),
                read_only(case_exact(string(
                    "version",
                    "The version (weak ETag) of the resource.",
                ))),
            ],
        ));
        meta.returned = Returned::Always;
        meta
    },
];

/// Looks up a top-level attribute of a resource's schemas: common attributes, then the core schema,
/// then the extension (by URN, ignoring case).
pub fn find<'a>(
    schemas: &'a [&'a Schema],
    schema_urn: Option<&str>,
    name: &str,
) -> Option<(&'a Schema, &'static Attribute)> {
    if schema_urn.is_none()
        && let Some(common) = COMMON
            .iter()
            .find(|attribute| attribute.name.eq_ignore_ascii_case(name))
    {
        return Some((schemas[0], common));
    }
    schemas.iter().find_map(|schema| {
        let matches_schema = match schema_urn {
            Some(urn) => schema.id.eq_ignore_ascii_case(urn),
            None => std::ptr::eq(*schema, schemas[0]),
        };
        if matches_schema {
            schema.attribute(name).map(|attribute| (*schema, attribute))
        } else {
            None
        }
    })
}
