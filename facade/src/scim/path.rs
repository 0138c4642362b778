//! Attribute paths and PATCH paths (RFC 7644 §3.5.2, §3.10) and their parser.

use super::error::ScimResult;
use roster::pb;

/// The core User schema URN.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The core Group schema URN.
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// The enterprise User extension URN.
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// `[schema-urn:]attribute[.subAttribute]`, as written (case preserved; compare ignoring case).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AttrPath {
    /// The schema URN when the path is fully qualified, for example the enterprise extension.
    pub schema: Option<String>,
    /// The attribute name.
    pub attribute: String,
    /// The sub-attribute name, if any.
    pub sub_attribute: Option<String>,
}

/// A PATCH target: `attrPath`, or `attrPath[valFilter]` with an optional `.subAttr` after the bracket.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PatchPath {
    /// The attribute (for a value path, the multi-valued attribute before the bracket).
    pub attr: AttrPath,
    /// The filter inside the brackets; its paths name sub-attributes of one element.
    pub filter: Option<pb::Filter>,
    /// The sub-attribute after `].`, for example `value` in `emails[type eq "work"].value`.
    pub sub_attribute: Option<String>,
}

impl AttrPath {
    /// The contract's form of the path.
    pub fn to_pb(&self) -> pb::AttributePath {
        pb::AttributePath {
            schema: self.schema.clone().unwrap_or_default(),
            attribute: self.attribute.clone(),
            sub_attribute: self.sub_attribute.clone().unwrap_or_default(),
        }
    }
}

/// Parses an attribute path (`sortBy`, `attributes` entries).
pub fn parse_attr_path(input: &str) -> ScimResult<AttrPath> {
    super::filter::parse_attr_path(input)
}

/// Parses a PATCH `path`.
pub fn parse_patch_path(input: &str) -> ScimResult<PatchPath> {
    super::filter::parse_patch_path(input)
}
