//! CIDR handling for the egress allow-list: parse, merge, sort, classify,
//! compare. Pure: no I/O.
//!
//! IPv4-mapped IPv6 (`::ffff:a.b.c.d`): [`parse`] and [`host`] turn a block
//! that lies entirely inside `::ffff:0:0/96` into the IPv4 block it stands
//! for (`::ffff:192.0.2.0/120` becomes `192.0.2.0/24`). Kubernetes matches
//! IPv4 traffic against IPv4 blocks only, so a mapped block would never allow
//! anything, and keeping it IPv6 would hide a mapped private or default
//! route from [`classify`] and [`is_default_route`]. A block wider than the
//! mapped range (e.g. `::/64`) stays IPv6.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use ipnet::IpNet;
use ipnet::{Ipv4Net, Ipv6Net};

/// Why a piece of text is not an acceptable CIDR block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CidrError {
    /// Nothing but whitespace.
    Empty,
    /// The part before any `/` is not an IPv4 or IPv6 address.
    NotAnAddress(String),
    /// The part after `/` is not a whole number from 0 to `max`.
    BadPrefix { given: String, max: u8 },
    /// Bits below the prefix length are set, which usually means a typo.
    HostBitsSet { given: String, network: IpNet },
}

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CidrError::Empty => f.write_str(
                "empty address: expected an IP address or CIDR block \
                 such as 192.0.2.0/24 or 2001:db8::/32",
            ),
            CidrError::NotAnAddress(given) => write!(
                f,
                "{given:?} is not an IP address or CIDR block \
                 (expected e.g. 192.0.2.1, 192.0.2.0/24 or 2001:db8::/32)"
            ),
            CidrError::BadPrefix { given, max } => write!(
                f,
                "{given:?} has an invalid prefix length: \
                 write a whole number from 0 to {max} after the '/'"
            ),
            CidrError::HostBitsSet { given, network } => {
                write!(f, "{given} has host bits set; did you mean {network}?")
            }
        }
    }
}

impl std::error::Error for CidrError {}

/// Parse an address (`192.0.2.1` -> `/32`, `2001:db8::1` -> `/128`) or a
/// CIDR block (`192.0.2.0/24`), ignoring surrounding whitespace.
///
/// Rejects host bits below the prefix (`192.0.2.7/24`), prefixes out of
/// range, IPv4 octets with leading zeros (ambiguous: octal or decimal?),
/// IPv6 zone indices (`fe80::1%eth0`) and netmask notation. IPv4-mapped
/// IPv6 blocks become IPv4 (see the module documentation).
pub fn parse(text: &str) -> Result<IpNet, CidrError> {
    let given = text.trim();
    if given.is_empty() {
        return Err(CidrError::Empty);
    }
    let (addr_text, prefix_text) = match given.split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix)),
        None => (given, None),
    };
    let addr: IpAddr = addr_text
        .parse()
        .map_err(|_| CidrError::NotAnAddress(given.to_string()))?;
    let max = max_prefix_len(addr);
    let prefix_len = match prefix_text {
        None => max,
        Some(digits) => {
            let bad = || CidrError::BadPrefix {
                given: given.to_string(),
                max,
            };
            // u8's parser accepts a leading '+', which is not CIDR notation.
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            digits.parse::<u8>().map_err(|_| bad())?
        }
    };
    let net = IpNet::new(addr, prefix_len).map_err(|_| CidrError::BadPrefix {
        given: given.to_string(),
        max,
    })?;
    let network = net.trunc();
    if network != net {
        return Err(CidrError::HostBitsSet {
            given: given.to_string(),
            network: canonical(network),
        });
    }
    Ok(canonical(net))
}

/// The block holding exactly one address: `/32` or `/128`. An IPv4-mapped
/// IPv6 address gives the IPv4 `/32`.
pub fn host(addr: IpAddr) -> IpNet {
    IpNet::from(addr.to_canonical())
}

/// A block inside `::ffff:0:0/96` as the IPv4 block it stands for; any other
/// block unchanged.
pub fn canonical(net: IpNet) -> IpNet {
    if let IpNet::V6(v6) = net {
        let mapped_bits = 128 - 32;
        if v6.prefix_len() >= mapped_bits {
            if let Some(v4) = v6.addr().to_ipv4_mapped() {
                if let Ok(v4net) = Ipv4Net::new(v4, v6.prefix_len() - mapped_bits) {
                    return IpNet::V4(v4net);
                }
            }
        }
    }
    net
}

fn max_prefix_len(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// The smallest sorted list of blocks covering exactly the addresses of
/// `nets`: duplicates and contained blocks dropped, adjacent siblings merged
/// (repeatedly: four /26 make one /24). Host bits in the input are ignored.
/// Order: IPv4 before IPv6, each by numeric address, then prefix length.
/// Families are kept apart: IPv4-mapped IPv6 blocks are not folded into IPv4
/// here (use [`canonical`] first for that).
pub fn merge(nets: impl IntoIterator<Item = IpNet>) -> Vec<IpNet> {
    let input: Vec<IpNet> = nets.into_iter().collect();
    // aggregate() merges the address intervals and re-cuts each interval into
    // the fewest aligned blocks, which is exactly the minimal cover.
    let mut merged = IpNet::aggregate(&input);
    merged.sort_by_key(sort_key);
    merged
}

/// Numeric order, IPv4 first: (family, first address, prefix length).
fn sort_key(net: &IpNet) -> (u8, u128, u8) {
    let (family, start, _) = span(net);
    (family, start, net.prefix_len())
}

/// (family: 4 or 6, first address, last address) as integers.
fn span(net: &IpNet) -> (u8, u128, u128) {
    match net {
        IpNet::V4(n) => (
            4,
            u128::from(u32::from(n.network())),
            u128::from(u32::from(n.broadcast())),
        ),
        IpNet::V6(n) => (6, u128::from(n.network()), u128::from(n.broadcast())),
    }
}

/// `0.0.0.0/0` or `::/0`: every address of a family. A mapped
/// `::ffff:0:0/96` counts too, as it stands for all of IPv4.
pub fn is_default_route(net: &IpNet) -> bool {
    canonical(*net).prefix_len() == 0
}

/// Address ranges an operator should hear about when a public host name
/// resolves into them (often a DNS sinkhole, a split-horizon answer or a
/// typo), because allowing them lets user pods reach inside networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    /// 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16.
    Private,
    /// 100.64.0.0/10, carrier-grade NAT.
    SharedAddressSpace,
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// 169.254.0.0/16 (includes cloud metadata services), fe80::/10.
    LinkLocal,
    /// fc00::/7.
    UniqueLocal,
    /// 0.0.0.0/8, ::.
    Unspecified,
    /// 224.0.0.0/4, ff00::/8.
    Multicast,
    /// 198.18.0.0/15.
    Benchmarking,
    /// 255.255.255.255, the limited broadcast address.
    Broadcast,
    /// 240.0.0.0/4 (255.255.255.255 is [`Special::Broadcast`]).
    Reserved,
}

impl Special {
    /// A phrase to follow "<host> resolves to <block>, ".
    pub fn describe(self) -> &'static str {
        match self {
            Special::Private => "a private address (RFC 1918)",
            Special::SharedAddressSpace => {
                "a carrier-grade NAT address (shared address space 100.64.0.0/10, RFC 6598)"
            }
            Special::Loopback => "a loopback address",
            Special::LinkLocal => {
                "a link-local address (169.254.0.0/16 or fe80::/10; cloud metadata services live here)"
            }
            Special::UniqueLocal => "a unique local IPv6 address (fc00::/7, RFC 4193)",
            Special::Unspecified => "the unspecified address or 'this network' (0.0.0.0/8 or ::)",
            Special::Multicast => "a multicast address",
            Special::Benchmarking => "a benchmarking address (198.18.0.0/15, RFC 2544)",
            Special::Broadcast => "the broadcast address (255.255.255.255)",
            Special::Reserved => "a reserved address (240.0.0.0/4)",
        }
    }

    /// Whether no egress policy should ever allow it: such an address in an
    /// answer or a list is a mistake or an attack (the cloud metadata service
    /// is link-local), never a server user pods need. Refused unless the
    /// operator allows special addresses; the other kinds are warned about.
    pub fn is_never_a_target(self) -> bool {
        matches!(
            self,
            Special::Unspecified
                | Special::Loopback
                | Special::LinkLocal
                | Special::Multicast
                | Special::Broadcast
        )
    }
}

/// The special ranges, in the order [`classify`] tries them.
const SPECIAL_V4: [(Ipv4Addr, u8, Special); 11] = [
    (Ipv4Addr::new(10, 0, 0, 0), 8, Special::Private),
    (Ipv4Addr::new(172, 16, 0, 0), 12, Special::Private),
    (Ipv4Addr::new(192, 168, 0, 0), 16, Special::Private),
    (
        Ipv4Addr::new(100, 64, 0, 0),
        10,
        Special::SharedAddressSpace,
    ),
    (Ipv4Addr::new(127, 0, 0, 0), 8, Special::Loopback),
    (Ipv4Addr::new(169, 254, 0, 0), 16, Special::LinkLocal),
    (Ipv4Addr::new(0, 0, 0, 0), 8, Special::Unspecified),
    (Ipv4Addr::new(224, 0, 0, 0), 4, Special::Multicast),
    (Ipv4Addr::new(198, 18, 0, 0), 15, Special::Benchmarking),
    (Ipv4Addr::BROADCAST, 32, Special::Broadcast),
    (Ipv4Addr::new(240, 0, 0, 0), 4, Special::Reserved),
];

const SPECIAL_V6: [(Ipv6Addr, u8, Special); 5] = [
    (
        Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0),
        7,
        Special::UniqueLocal,
    ),
    (Ipv6Addr::LOCALHOST, 128, Special::Loopback),
    (
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0),
        10,
        Special::LinkLocal,
    ),
    (Ipv6Addr::UNSPECIFIED, 128, Special::Unspecified),
    (
        Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0),
        8,
        Special::Multicast,
    ),
];

/// The first special range (in the order of [`Special`]'s variants) that
/// `net` overlaps, i.e. contains or lies in. Documentation ranges count as
/// public. A mapped IPv6 block is classified as the IPv4 block it stands for.
pub fn classify(net: &IpNet) -> Option<Special> {
    specials(net).first().copied()
}

/// Every kind of special range `net` overlaps, in the order of [`Special`]'s
/// variants, each once.
pub fn specials(net: &IpNet) -> Vec<Special> {
    let net = canonical(*net);
    let overlaps = |range: IpNet| range.contains(&net) || net.contains(&range);
    let v4 = SPECIAL_V4
        .iter()
        .filter_map(|&(addr, len, kind)| Some((IpNet::V4(Ipv4Net::new(addr, len).ok()?), kind)));
    let v6 = SPECIAL_V6
        .iter()
        .filter_map(|&(addr, len, kind)| Some((IpNet::V6(Ipv6Net::new(addr, len).ok()?), kind)));
    let mut hits: Vec<Special> = v4
        .chain(v6)
        .filter(|&(range, _)| overlaps(range))
        .map(|(_, kind)| kind)
        .collect();
    hits.sort_by_key(|kind| *kind as u8);
    hits.dedup();
    hits
}

/// The widest share of one family a single source may allow, as a prefix
/// length: all of a source's IPv4 ranges together may cover at most a /4
/// (2^28 addresses, 1/16 of IPv4), its IPv6 ranges at most a /16 (2^112).
/// The published lists hold /12 to /32 (IPv4) and /28 to /64 (IPv6) blocks;
/// a /16 of IPv6 is more than any organisation is allocated, so anything
/// wider allows a good part of the internet and is refused unless the
/// operator allows the default route.
pub const MAX_COVERAGE_PREFIX_V4: u8 = 4;
/// See [`MAX_COVERAGE_PREFIX_V4`].
pub const MAX_COVERAGE_PREFIX_V6: u8 = 16;

/// How many addresses of one family the blocks hold (saturating at
/// `u128::MAX` for all of IPv6). Overlaps count once: the blocks are merged.
pub fn address_count(nets: &[IpNet], ipv6: bool) -> u128 {
    merge(nets.iter().copied().filter(|n| n.addr().is_ipv6() == ipv6))
        .iter()
        .map(|n| block_size(n.max_prefix_len(), n.prefix_len()))
        .fold(0u128, u128::saturating_add)
}

/// The address count of a block of `prefix_len` in a family of `max` bits.
fn block_size(max: u8, prefix_len: u8) -> u128 {
    1u128
        .checked_shl(u32::from(max.saturating_sub(prefix_len)))
        .unwrap_or(u128::MAX)
}

/// Whether `count` addresses of a family exceed what one source may allow
/// (see [`MAX_COVERAGE_PREFIX_V4`]).
pub fn exceeds_coverage(count: u128, ipv6: bool) -> bool {
    let limit = if ipv6 {
        block_size(128, MAX_COVERAGE_PREFIX_V6)
    } else {
        block_size(32, MAX_COVERAGE_PREFIX_V4)
    };
    count > limit
}

/// Compare two allow-lists as address sets (for `render --check`).
///
/// Both sides are merged first, so mere regrouping (two /25 vs one /24,
/// duplicates, order) shows no difference. Returns (`added`, `removed`):
/// `added` holds each merged block of `new` that is not entirely inside the
/// addresses of `old`, reported whole even when part of it was already
/// allowed (old 192.0.2.0/25, new 192.0.2.0/24: added 192.0.2.0/24);
/// `removed` is the same with the sides swapped (old 192.0.2.0/24, new
/// 192.0.2.0/25: removed 192.0.2.0/24). A block covered by several blocks of
/// the other side together is not reported. Both lists are empty exactly
/// when the two sides allow the same addresses.
pub fn diff(old: &[IpNet], new: &[IpNet]) -> (Vec<IpNet>, Vec<IpNet>) {
    let old = merge(old.iter().copied());
    let new = merge(new.iter().copied());
    let added = not_covered(&new, &old);
    let removed = not_covered(&old, &new);
    (added, removed)
}

/// The blocks of `blocks` with at least one address outside `cover`
/// (`cover` as returned by [`merge`]: sorted, disjoint).
fn not_covered(blocks: &[IpNet], cover: &[IpNet]) -> Vec<IpNet> {
    let intervals = intervals(cover);
    blocks
        .iter()
        .filter(|block| {
            let (family, start, end) = span(block);
            // The last interval starting at or before `start` is the only
            // one that can hold the block, as intervals are disjoint.
            let before = intervals.partition_point(|&(f, s, _)| (f, s) <= (family, start));
            let holder = before.checked_sub(1).and_then(|i| intervals.get(i));
            !matches!(holder, Some(&(f, _, e)) if f == family && end <= e)
        })
        .copied()
        .collect()
}

/// Sorted disjoint blocks as maximal (family, first, last) intervals, with
/// touching blocks joined.
fn intervals(sorted: &[IpNet]) -> Vec<(u8, u128, u128)> {
    let mut out: Vec<(u8, u128, u128)> = Vec::with_capacity(sorted.len());
    for net in sorted {
        let (family, start, end) = span(net);
        if let Some(last) = out.last_mut() {
            if last.0 == family && last.2.checked_add(1) == Some(start) {
                last.2 = end;
                continue;
            }
        }
        out.push((family, start, end));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> IpNet {
        text.parse().unwrap()
    }

    fn nets(texts: &[&str]) -> Vec<IpNet> {
        texts.iter().map(|t| net(t)).collect()
    }

    fn strings(nets: &[IpNet]) -> Vec<String> {
        nets.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn parse_accepts() {
        let cases = [
            ("192.0.2.1", "192.0.2.1/32"),
            ("192.0.2.0/24", "192.0.2.0/24"),
            ("  198.51.100.0/25\t\n", "198.51.100.0/25"),
            ("203.0.113.128/25", "203.0.113.128/25"),
            ("203.0.113.7/32", "203.0.113.7/32"),
            ("0.0.0.0/0", "0.0.0.0/0"),
            ("192.0.2.0/024", "192.0.2.0/24"),
            ("2001:db8::1", "2001:db8::1/128"),
            ("2001:db8::/32", "2001:db8::/32"),
            ("2001:DB8:0:0:0:0:0:0/32", "2001:db8::/32"),
            ("2001:0db8:0000::/48", "2001:db8::/48"),
            ("2001:db8::0:0/64", "2001:db8::/64"),
            ("2001:db8:0:1::/64", "2001:db8:0:1::/64"),
            ("2001:db8::ffff:0:0:1", "2001:db8::ffff:0:0:1/128"),
            ("::/0", "::/0"),
            ("::1", "::1/128"),
            // IPv4-mapped IPv6 becomes IPv4.
            ("::ffff:192.0.2.1", "192.0.2.1/32"),
            ("::ffff:c000:0201", "192.0.2.1/32"),
            ("::ffff:198.51.100.0/120", "198.51.100.0/24"),
            ("::ffff:0:0/96", "0.0.0.0/0"),
            // Wider than the mapped range: stays IPv6.
            ("::/80", "::/80"),
        ];
        for (text, want) in cases {
            let got = parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(got.to_string(), want, "{text:?}");
        }
    }

    #[test]
    fn parse_rejects() {
        let cases: &[(&str, CidrError)] = &[
            ("", CidrError::Empty),
            ("  \t ", CidrError::Empty),
            ("/24", CidrError::NotAnAddress("/24".into())),
            ("300.1.1.1", CidrError::NotAnAddress("300.1.1.1".into())),
            ("192.0.2", CidrError::NotAnAddress("192.0.2".into())),
            (
                "192.000.002.001",
                CidrError::NotAnAddress("192.000.002.001".into()),
            ),
            (
                "host.example",
                CidrError::NotAnAddress("host.example".into()),
            ),
            (
                "192.0.2.0 /24",
                CidrError::NotAnAddress("192.0.2.0 /24".into()),
            ),
            (
                "2001:db8:::1",
                CidrError::NotAnAddress("2001:db8:::1".into()),
            ),
            (
                "2001:db8::1::2",
                CidrError::NotAnAddress("2001:db8::1::2".into()),
            ),
            (
                "fe80::1%eth0",
                CidrError::NotAnAddress("fe80::1%eth0".into()),
            ),
            (
                "[2001:db8::1]",
                CidrError::NotAnAddress("[2001:db8::1]".into()),
            ),
            ("192.0.2.0/33", bad_prefix("192.0.2.0/33", 32)),
            ("192.0.2.0/", bad_prefix("192.0.2.0/", 32)),
            ("192.0.2.0/+24", bad_prefix("192.0.2.0/+24", 32)),
            ("192.0.2.0/-1", bad_prefix("192.0.2.0/-1", 32)),
            ("192.0.2.0/ 24", bad_prefix("192.0.2.0/ 24", 32)),
            ("192.0.2.0/24/24", bad_prefix("192.0.2.0/24/24", 32)),
            ("192.0.2.0/256", bad_prefix("192.0.2.0/256", 32)),
            (
                "192.0.2.0/255.255.255.0",
                bad_prefix("192.0.2.0/255.255.255.0", 32),
            ),
            ("2001:db8::/129", bad_prefix("2001:db8::/129", 128)),
            ("2001:db8::/", bad_prefix("2001:db8::/", 128)),
            (
                "198.51.100.7/24",
                CidrError::HostBitsSet {
                    given: "198.51.100.7/24".into(),
                    network: net("198.51.100.0/24"),
                },
            ),
            (
                "2001:db8::1/32",
                CidrError::HostBitsSet {
                    given: "2001:db8::1/32".into(),
                    network: net("2001:db8::/32"),
                },
            ),
            (
                "::ffff:192.0.2.1/120",
                CidrError::HostBitsSet {
                    given: "::ffff:192.0.2.1/120".into(),
                    network: net("192.0.2.0/24"),
                },
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text).as_ref(), Err(want), "{text:?}");
        }
    }

    fn bad_prefix(given: &str, max: u8) -> CidrError {
        CidrError::BadPrefix {
            given: given.into(),
            max,
        }
    }

    #[test]
    fn errors_explain_what_to_write() {
        let err = parse(" 198.51.100.7/24 ").unwrap_err();
        assert_eq!(
            err.to_string(),
            "198.51.100.7/24 has host bits set; did you mean 198.51.100.0/24?"
        );
        let err = parse("2001:db8::/129").unwrap_err().to_string();
        assert!(err.contains("\"2001:db8::/129\""), "{err}");
        assert!(err.contains("0 to 128"), "{err}");
        let err = parse("192.0.2.0/33").unwrap_err().to_string();
        assert!(err.contains("0 to 32"), "{err}");
        let err = parse("300.1.1.1").unwrap_err().to_string();
        assert!(err.contains("\"300.1.1.1\" is not an IP address"), "{err}");
        assert!(parse("").unwrap_err().to_string().contains("empty"));
    }

    #[test]
    fn host_gives_single_address_blocks() {
        assert_eq!(host("192.0.2.9".parse().unwrap()), net("192.0.2.9/32"));
        assert_eq!(host("2001:db8::9".parse().unwrap()), net("2001:db8::9/128"));
        assert_eq!(
            host("::ffff:203.0.113.5".parse().unwrap()),
            net("203.0.113.5/32")
        );
    }

    fn merged(texts: &[&str]) -> Vec<String> {
        strings(&merge(nets(texts)))
    }

    #[test]
    fn merge_cases() {
        let cases: &[(&str, &[&str], &[&str])] = &[
            ("empty", &[], &[]),
            (
                "duplicates",
                &["192.0.2.0/24", "192.0.2.0/24", "192.0.2.0/24"],
                &["192.0.2.0/24"],
            ),
            (
                "contained",
                &["192.0.2.128/25", "192.0.2.0/24", "192.0.2.7/32"],
                &["192.0.2.0/24"],
            ),
            (
                "adjacent siblings",
                &["192.0.2.128/25", "192.0.2.0/25"],
                &["192.0.2.0/24"],
            ),
            (
                "cascade: four /26",
                &[
                    "192.0.2.192/26",
                    "192.0.2.0/26",
                    "192.0.2.128/26",
                    "192.0.2.64/26",
                ],
                &["192.0.2.0/24"],
            ),
            (
                "cascade: /25 + /26 + two /27",
                &[
                    "192.0.2.0/25",
                    "192.0.2.224/27",
                    "192.0.2.128/26",
                    "192.0.2.192/27",
                ],
                &["192.0.2.0/24"],
            ),
            (
                "adjacent but not siblings",
                &["192.0.2.128/26", "192.0.2.64/26"],
                &["192.0.2.64/26", "192.0.2.128/26"],
            ),
            (
                "gap",
                &["192.0.2.0/26", "192.0.2.128/26"],
                &["192.0.2.0/26", "192.0.2.128/26"],
            ),
            (
                "numeric, not lexical",
                &[
                    "203.0.113.0/24",
                    "10.0.0.0/8",
                    "198.51.100.0/24",
                    "9.0.0.0/8",
                ],
                &[
                    "9.0.0.0/8",
                    "10.0.0.0/8",
                    "198.51.100.0/24",
                    "203.0.113.0/24",
                ],
            ),
            (
                "IPv4 first, then IPv6",
                &[
                    "2001:db8:1::/48",
                    "203.0.113.0/24",
                    "2001:db8::/48",
                    "192.0.2.0/24",
                ],
                &["192.0.2.0/24", "203.0.113.0/24", "2001:db8::/47"],
            ),
            (
                "IPv6 numeric order",
                &["2001:db8:a::/48", "2001:db8:9::/48", "2001:db8:10::/48"],
                &["2001:db8:9::/48", "2001:db8:a::/48", "2001:db8:10::/48"],
            ),
            (
                "families never merge",
                &["0.0.0.0/1", "::/1"],
                &["0.0.0.0/1", "::/1"],
            ),
            (
                "top of the address space",
                &["255.255.255.255/32", "255.255.255.254/32"],
                &["255.255.255.254/31"],
            ),
            (
                "whole space",
                &["128.0.0.0/1", "0.0.0.0/1", "::/1", "8000::/1"],
                &["0.0.0.0/0", "::/0"],
            ),
        ];
        for (name, input, want) in cases {
            assert_eq!(merged(input), *want, "{name}");
        }
    }

    #[test]
    fn merge_ignores_host_bits() {
        let with_host_bits = IpNet::new("192.0.2.77".parse().unwrap(), 24).unwrap();
        assert_eq!(strings(&merge([with_host_bits])), ["192.0.2.0/24"]);
    }

    /// xorshift64*: a fixed-seed generator, so failures reproduce.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        fn shuffle<T>(&mut self, items: &mut [T]) {
            for i in (1..items.len()).rev() {
                let j = self.below(i as u64 + 1) as usize;
                items.swap(i, j);
            }
        }
    }

    #[test]
    fn merge_is_idempotent_and_order_independent() {
        let input = nets(&[
            "203.0.113.0/25",
            "2001:db8:1::/48",
            "198.51.100.64/26",
            "203.0.113.128/25",
            "192.0.2.1/32",
            "2001:db8::/48",
            "198.51.100.128/26",
            "192.0.2.0/32",
            "2001:db8::5/128",
            "198.51.100.64/27",
        ]);
        let once = merge(input.clone());
        assert_eq!(
            strings(&once),
            [
                "192.0.2.0/31",
                "198.51.100.64/26",
                "198.51.100.128/26",
                "203.0.113.0/24",
                "2001:db8::/47"
            ]
        );
        assert_eq!(merge(once.clone()), once);
        let mut rng = Rng(0x5eed_c1d2);
        for _ in 0..50 {
            let mut shuffled = input.clone();
            rng.shuffle(&mut shuffled);
            assert_eq!(merge(shuffled), once);
        }
    }

    /// Random small blocks inside 198.51.100.0/24.
    fn random_blocks(rng: &mut Rng) -> Vec<IpNet> {
        let count = rng.below(12);
        (0..count)
            .map(|_| {
                let prefix_len = 25 + rng.below(8) as u8; // /25 .. /32
                let size = 1u64 << (32 - prefix_len);
                let offset = rng.below(256 / size) * size;
                let addr = Ipv4Addr::new(198, 51, 100, offset as u8);
                IpNet::V4(Ipv4Net::new(addr, prefix_len).unwrap())
            })
            .collect()
    }

    fn covers(blocks: &[IpNet], last_octet: u8) -> bool {
        let addr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, last_octet));
        blocks.iter().any(|b| b.contains(&addr))
    }

    #[test]
    fn merge_property_same_addresses_minimal_blocks() {
        let mut rng = Rng(0x0123_4567_89ab_cdef);
        let outer = net("198.51.100.0/24");
        for round in 0..2000 {
            let input = random_blocks(&mut rng);
            let output = merge(input.clone());
            for octet in 0..=255u8 {
                assert_eq!(
                    covers(&input, octet),
                    covers(&output, octet),
                    "round {round}: .{octet} in {input:?} -> {output:?}"
                );
            }
            for (i, a) in output.iter().enumerate() {
                assert!(outer.contains(a), "round {round}: {a} escapes");
                for b in &output[i + 1..] {
                    assert!(
                        !a.contains(b) && !b.contains(a),
                        "round {round}: {a} overlaps {b}"
                    );
                    assert!(!a.is_sibling(b), "round {round}: {a} and {b} could merge");
                }
            }
            assert!(
                output.windows(2).all(|w| w[0].network() < w[1].network()),
                "round {round}: unsorted {output:?}"
            );
        }
    }

    #[test]
    fn diff_property_matches_address_sets() {
        let mut rng = Rng(0xfeed_beef_1234_5678);
        for round in 0..1000 {
            let old = random_blocks(&mut rng);
            let new = random_blocks(&mut rng);
            let (added, removed) = diff(&old, &new);
            // Brute force: a merged block is reported iff it has an address
            // the other side lacks.
            let missing = |block: &IpNet, other: &[IpNet]| {
                (0..=255u8).any(|o| {
                    block.contains(&IpAddr::V4(Ipv4Addr::new(198, 51, 100, o))) && !covers(other, o)
                })
            };
            let want_added: Vec<IpNet> = merge(new.clone())
                .into_iter()
                .filter(|b| missing(b, &old))
                .collect();
            let want_removed: Vec<IpNet> = merge(old.clone())
                .into_iter()
                .filter(|b| missing(b, &new))
                .collect();
            assert_eq!(added, want_added, "round {round}: {old:?} -> {new:?}");
            assert_eq!(removed, want_removed, "round {round}: {old:?} -> {new:?}");
            let same = (0..=255u8).all(|o| covers(&old, o) == covers(&new, o));
            assert_eq!(
                same,
                added.is_empty() && removed.is_empty(),
                "round {round}"
            );
        }
    }

    #[test]
    fn diff_cases() {
        type Case<'a> = (
            &'a str,
            &'a [&'a str],
            &'a [&'a str],
            &'a [&'a str],
            &'a [&'a str],
        );
        let cases: &[Case] = &[
            ("both empty", &[], &[], &[], &[]),
            (
                "identical, reordered",
                &["203.0.113.0/24", "192.0.2.0/24"],
                &["192.0.2.0/24", "203.0.113.0/24"],
                &[],
                &[],
            ),
            (
                "regrouped: two /25 vs one /24",
                &["192.0.2.0/25", "192.0.2.128/25"],
                &["192.0.2.0/24"],
                &[],
                &[],
            ),
            (
                "block covered by two non-sibling blocks together",
                &["192.0.2.64/26", "192.0.2.128/26"],
                &["192.0.2.64/27", "192.0.2.96/27", "192.0.2.128/26"],
                &[],
                &[],
            ),
            (
                "grown: new block reported whole",
                &["192.0.2.0/25"],
                &["192.0.2.0/24"],
                &["192.0.2.0/24"],
                &[],
            ),
            (
                "split/shrunk: old block reported whole",
                &["192.0.2.0/24"],
                &["192.0.2.0/25"],
                &[],
                &["192.0.2.0/24"],
            ),
            (
                "hole punched: old block reported, remaining pieces not",
                &["192.0.2.0/24"],
                &["192.0.2.0/25", "192.0.2.192/26"],
                &[],
                &["192.0.2.0/24"],
            ),
            (
                "moved",
                &["198.51.100.0/24", "2001:db8::/48"],
                &["203.0.113.0/24", "2001:db8::/48"],
                &["203.0.113.0/24"],
                &["198.51.100.0/24"],
            ),
            (
                "families are separate",
                &["192.0.2.0/24"],
                &["192.0.2.0/24", "2001:db8::/32"],
                &["2001:db8::/32"],
                &[],
            ),
            (
                "partial overlap both ways",
                &["192.0.2.0/25", "198.51.100.0/24"],
                &["192.0.2.0/24", "198.51.100.0/25"],
                &["192.0.2.0/24"],
                &["198.51.100.0/24"],
            ),
        ];
        for (name, old, new, want_added, want_removed) in cases {
            let (added, removed) = diff(&nets(old), &nets(new));
            assert_eq!(strings(&added), *want_added, "{name}: added");
            assert_eq!(strings(&removed), *want_removed, "{name}: removed");
        }
    }

    #[test]
    fn default_route() {
        for text in ["0.0.0.0/0", "::/0", "::ffff:0:0/96"] {
            assert!(is_default_route(&net(text)), "{text}");
        }
        for text in [
            "0.0.0.0/1",
            "::/1",
            "192.0.2.0/24",
            "::ffff:0:0/97",
            "0.0.0.0/32",
        ] {
            assert!(!is_default_route(&net(text)), "{text}");
        }
    }

    #[test]
    fn classify_table() {
        use Special::*;
        let cases: &[(&str, Option<Special>)] = &[
            // Documentation ranges stand for public addresses in tests.
            ("192.0.2.0/24", None),
            ("198.51.100.7/32", None),
            ("203.0.113.0/24", None),
            ("2001:db8::/32", None),
            ("2001:db8::1/128", None),
            ("10.1.2.3/32", Some(Private)),
            ("10.0.0.0/8", Some(Private)),
            ("172.16.0.0/12", Some(Private)),
            ("172.31.255.255/32", Some(Private)),
            ("172.32.0.0/16", None),
            ("172.15.255.255/32", None),
            ("192.168.1.0/24", Some(Private)),
            ("11.0.0.0/8", None),
            // A block containing a private range overlaps it.
            ("8.0.0.0/6", Some(Private)),
            ("100.64.0.1/32", Some(SharedAddressSpace)),
            ("100.127.255.255/32", Some(SharedAddressSpace)),
            ("100.128.0.0/32", None),
            ("127.0.0.1/32", Some(Loopback)),
            ("::1/128", Some(Loopback)),
            ("169.254.169.254/32", Some(LinkLocal)),
            ("fe80::1/128", Some(LinkLocal)),
            ("febf::/16", Some(LinkLocal)),
            ("fec0::/16", None),
            ("0.0.0.0/32", Some(Unspecified)),
            ("::/128", Some(Unspecified)),
            ("fd00::1/128", Some(UniqueLocal)),
            ("fc00::/7", Some(UniqueLocal)),
            ("224.0.0.251/32", Some(Multicast)),
            ("ff02::1/128", Some(Multicast)),
            ("198.18.0.1/32", Some(Benchmarking)),
            ("198.20.0.0/32", None),
            ("255.255.255.255/32", Some(Broadcast)),
            ("240.0.0.1/32", Some(Reserved)),
            // Mapped IPv6 is judged as the IPv4 it stands for.
            ("::ffff:10.0.0.0/104", Some(Private)),
            ("::ffff:192.0.2.0/120", None),
            // The first matching variant wins for blocks spanning several.
            ("0.0.0.0/0", Some(Private)),
            ("::/0", Some(Loopback)),
        ];
        for (text, want) in cases {
            // Build with ipnet directly so mapped blocks reach classify as IPv6.
            assert_eq!(classify(&net(text)), *want, "{text}");
        }
    }

    #[test]
    fn every_special_has_a_description() {
        use Special::*;
        let all = [
            Private,
            SharedAddressSpace,
            Loopback,
            LinkLocal,
            UniqueLocal,
            Unspecified,
            Multicast,
            Benchmarking,
            Broadcast,
            Reserved,
        ];
        assert_eq!(Private.describe(), "a private address (RFC 1918)");
        let mut seen: Vec<&str> = all.iter().map(|s| s.describe()).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), all.len(), "descriptions must differ");
    }

    #[test]
    fn specials_lists_every_kind_a_block_overlaps() {
        use Special::*;
        assert_eq!(
            specials(&net("0.0.0.0/1")),
            [Private, SharedAddressSpace, Loopback, Unspecified]
        );
        assert_eq!(specials(&net("192.0.2.0/24")), []);
        assert_eq!(specials(&net("240.0.0.0/4")), [Broadcast, Reserved]);
        let refused: Vec<&str> = [
            "0.0.0.0/32",
            "::/128",
            "127.0.0.1/32",
            "::1/128",
            "169.254.169.254/32",
            "fe80::1/128",
            "224.0.0.251/32",
            "ff02::1/128",
            "255.255.255.255/32",
        ]
        .into_iter()
        .filter(|t| !specials(&net(t)).iter().any(|k| k.is_never_a_target()))
        .collect();
        assert!(refused.is_empty(), "not refused: {refused:?}");
        for warned in [
            "10.0.0.1/32",
            "100.64.0.1/32",
            "fd00::1/128",
            "198.18.0.1/32",
            "240.0.0.1/32",
        ] {
            assert!(
                !specials(&net(warned)).iter().any(|k| k.is_never_a_target()),
                "{warned}"
            );
        }
    }

    #[test]
    fn coverage_counts_merged_addresses_per_family() {
        let halves = nets(&["0.0.0.0/1", "128.0.0.0/1", "2001:db8::/32"]);
        assert_eq!(address_count(&halves, false), 1u128 << 32);
        assert_eq!(address_count(&halves, true), 1u128 << 96);
        let overlapping = nets(&["192.0.2.0/24", "192.0.2.0/25"]);
        assert_eq!(address_count(&overlapping, false), 256);
        assert_eq!(address_count(&nets(&["::/0"]), true), u128::MAX);
        assert!(!exceeds_coverage(1 << 28, false));
        assert!(exceeds_coverage((1 << 28) + 1, false));
        assert!(!exceeds_coverage(1 << 112, true));
        assert!(exceeds_coverage((1 << 112) + 1, true));
    }
}
