//! Provisioning connections: the rules that need no I/O. A connection ("Okta production") is what
//! an identity provider's tokens belong to; it has a name people see, a kind, and an IP allow-list
//! of CIDR blocks (empty: any address). Also the CIDR type the trusted-proxy setting uses.

use crate::error::{CoreError, CoreResult};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// Longest connection name, in characters.
pub const MAX_NAME: usize = 128;
/// Most CIDR blocks in one allow-list.
pub const MAX_CIDRS: usize = 100;
/// The kinds a connection can be, as stored.
pub const KINDS: [&str; 3] = ["okta", "entra", "generic"];

/// A connection name: 1-128 characters, not blank, no control characters, no leading or trailing
/// spaces (names are compared case-insensitively).
pub fn validate_name(name: &str) -> CoreResult<()> {
    if name.trim().is_empty() {
        return Err(CoreError::invalid(
            "name",
            "name is required and must not be blank",
        ));
    }
    let length = name.chars().count();
    if length > MAX_NAME {
        return Err(CoreError::invalid(
            "name",
            format!("name is {length} characters long; the limit is {MAX_NAME}"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(CoreError::invalid(
            "name",
            "name must not contain control characters",
        ));
    }
    if name.trim() != name {
        return Err(CoreError::invalid(
            "name",
            "name must not start or end with spaces",
        ));
    }
    Ok(())
}

/// A block of addresses: `10.0.0.0/8`, `2001:db8::/32`, or one address (`/32` or `/128` implied).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    address: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `address` lies in the block. IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) count
    /// as their IPv4 address.
    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.address, address.to_canonical()) {
            (IpAddr::V4(block), IpAddr::V4(address)) => {
                mask32(u32::from(address), self.prefix) == u32::from(block)
            }
            (IpAddr::V6(block), IpAddr::V6(address)) => {
                mask128(u128::from(address), self.prefix) == u128::from(block)
            }
            _ => false,
        }
    }
}

fn mask32(bits: u32, prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        bits & (u32::MAX << (32 - u32::from(prefix)))
    }
}

fn mask128(bits: u128, prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        bits & (u128::MAX << (128 - u32::from(prefix)))
    }
}

impl FromStr for Cidr {
    type Err = String;

    /// Parses `address/prefix` or a bare address; host bits must be zero (`10.0.0.1/8` is refused
    /// with the block it probably meant), so what is stored is what is matched.
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let shown: String = text.chars().take(64).collect();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address = IpAddr::from_str(address)
            .map_err(|_| format!("{shown:?} is not an IP address or CIDR block"))?
            .to_canonical();
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(prefix) => Some(prefix)
                .filter(|prefix| !prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|prefix| prefix.parse::<u8>().ok())
                .filter(|prefix| *prefix <= max)
                .ok_or_else(|| format!("{shown:?} has a prefix length outside 0-{max}"))?,
        };
        let network = match address {
            IpAddr::V4(v4) => IpAddr::from(mask32(u32::from(v4), prefix).to_be_bytes()),
            IpAddr::V6(v6) => IpAddr::from(mask128(u128::from(v6), prefix).to_be_bytes()),
        };
        if network != address {
            return Err(format!(
                "{shown:?} has host bits set; the block is {network}/{prefix}"
            ));
        }
        Ok(Self { address, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}/{}", self.address, self.prefix)
    }
}

/// Parses a list of CIDR blocks (`field` names it in errors); returns them in canonical text,
/// duplicates dropped, in the order given.
pub fn parse_cidrs(field: &'static str, values: &[String]) -> CoreResult<Vec<Cidr>> {
    if values.len() > MAX_CIDRS {
        return Err(CoreError::invalid(
            field,
            format!(
                "{field} holds {} blocks; the limit is {MAX_CIDRS}",
                values.len()
            ),
        ));
    }
    let mut blocks: Vec<Cidr> = Vec::with_capacity(values.len());
    for value in values {
        let block = value
            .parse::<Cidr>()
            .map_err(|message| CoreError::invalid(field, format!("{field}: {message}")))?;
        if !blocks.contains(&block) {
            blocks.push(block);
        }
    }
    Ok(blocks)
}

/// An allow-list as stored: canonical blocks separated by spaces (empty: any address).
pub fn stored_list(blocks: &[Cidr]) -> String {
    blocks
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The blocks of a stored allow-list (written by [`stored_list`], so every entry parses).
pub fn parse_stored(text: &str) -> Vec<Cidr> {
    text.split_whitespace()
        .filter_map(|block| block.parse().ok())
        .collect()
}

/// Whether `address` may use a token of a connection with this allow-list: any address when the
/// list is empty, else only one inside a block; an unknown address only when the list is empty.
pub fn allows(blocks: &[Cidr], address: Option<IpAddr>) -> bool {
    if blocks.is_empty() {
        return true;
    }
    address.is_some_and(|address| blocks.iter().any(|block| block.contains(address)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn names_are_bounded_and_clean() {
        assert!(validate_name("Okta production").is_ok());
        assert!(validate_name(&"x".repeat(MAX_NAME)).is_ok());
        for bad in [
            "",
            "   ",
            " Okta",
            "Okta ",
            "a\nb",
            &"x".repeat(MAX_NAME + 1),
        ] {
            let error = validate_name(bad).unwrap_err();
            assert_eq!(error.field, "name", "{bad:?}");
        }
    }

    #[test]
    fn blocks_parse_match_and_print_canonically() {
        let block: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(block.contains(ip("10.200.1.2")));
        assert!(block.contains(ip("::ffff:10.0.0.1")));
        assert!(!block.contains(ip("11.0.0.1")));
        assert!(!block.contains(ip("::1")));
        let single: Cidr = "127.0.0.1".parse().unwrap();
        assert_eq!(single.to_string(), "127.0.0.1/32");
        assert!(single.contains(ip("127.0.0.1")));
        assert!(!single.contains(ip("127.0.0.2")));
        let v6: Cidr = "2001:DB8::/32".parse().unwrap();
        assert_eq!(v6.to_string(), "2001:db8::/32");
        assert!(v6.contains(ip("2001:db8:1::5")));
        let any: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(any.contains(ip("203.0.113.9")));
        assert!(!any.contains(ip("2001:db8::1")));
    }

    #[test]
    fn bad_blocks_say_why() {
        assert!(
            "10.0.0.1/8"
                .parse::<Cidr>()
                .unwrap_err()
                .contains("the block is 10.0.0.0/8")
        );
        for bad in [
            "",
            "10.0.0.0/33",
            "10.0.0/8",
            "example.com",
            "::/129",
            "10.0.0.0/x",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        let error = parse_cidrs("ip_allow_list", &["10.0.0.0/+8".to_owned()]).unwrap_err();
        assert_eq!(error.field, "ip_allow_list");
    }

    #[test]
    fn lists_round_trip_and_decide() {
        let blocks = parse_cidrs(
            "ip_allow_list",
            &["10.0.0.0/8".into(), "10.0.0.0/8".into(), "::1".into()],
        )
        .unwrap();
        assert_eq!(stored_list(&blocks), "10.0.0.0/8 ::1/128");
        assert_eq!(parse_stored(&stored_list(&blocks)), blocks);
        assert!(allows(&[], None));
        assert!(allows(&blocks, Some(ip("10.1.1.1"))));
        assert!(!allows(&blocks, Some(ip("192.168.1.1"))));
        assert!(!allows(&blocks, None));
    }
}
