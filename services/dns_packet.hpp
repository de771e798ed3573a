#pragma once
// The DNS wire format (RFC 1035) as the `.vm` resolver needs it: bytes in,
// bytes out, no I/O. banger is authoritative for one zone and nothing else:
//   A (or ANY) for a known host         NOERROR, AA, one A record
//   other types for a known host, apex  NOERROR, AA, no answers (NODATA)
//   any other name inside the zone      NXDOMAIN, AA
//   names outside the zone, non-IN      REFUSED (it never forwards)
//   a readable header, broken rest      FORMERR (NOTIMP for other opcodes)
//   shorter than a header, a response   dropped
// Every read is bounds-checked. Compression pointers must point strictly
// before where the name being read started, which rules out loops (and so
// any pointer in a query's only question, which would point into the header).
// EDNS: OPT records are ignored and answers carry none (RFC 6891 allows it).

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace banger::dns {

using ipv4 = std::array<std::uint8_t, 4>;
using bytes = std::span<const std::uint8_t>;

inline constexpr std::size_t header_size = 12;
/// Longest name on the wire, length octets and the final zero included.
inline constexpr std::size_t max_name_octets = 255;
inline constexpr std::size_t max_label_octets = 63;

namespace qtype {
inline constexpr std::uint16_t a = 1;
inline constexpr std::uint16_t aaaa = 28;
inline constexpr std::uint16_t opt = 41;
inline constexpr std::uint16_t ixfr = 251;
inline constexpr std::uint16_t axfr = 252;
inline constexpr std::uint16_t any = 255;
} // namespace qtype

inline constexpr std::uint16_t class_in = 1;
inline constexpr std::uint16_t class_any = 255;

namespace flag {
inline constexpr std::uint16_t qr = 0x8000; // a response
inline constexpr std::uint16_t aa = 0x0400; // authoritative answer
inline constexpr std::uint16_t tc = 0x0200; // truncated
inline constexpr std::uint16_t rd = 0x0100; // recursion desired
inline constexpr std::uint16_t ra = 0x0080; // recursion available
} // namespace flag

enum class rcode : std::uint8_t {
  noerror = 0,
  formerr = 1,
  servfail = 2,
  nxdomain = 3,
  notimp = 4,
  refused = 5,
};

struct header {
  std::uint16_t id = 0;
  std::uint16_t flags = 0;
  std::uint16_t qdcount = 0;
  std::uint16_t ancount = 0;
  std::uint16_t nscount = 0;
  std::uint16_t arcount = 0;

  unsigned opcode() const { return (flags >> 11) & 0xfu; }
  dns::rcode rcode() const { return static_cast<dns::rcode>(flags & 0xfu); }
};

struct question {
  std::vector<std::string> labels; // as sent: case is kept for the echo
  std::uint16_t type = 0;
  std::uint16_t cls = 0;
};

/// What a query asks for, or why it gets FORMERR/NOTIMP or no reply.
struct parsed_query {
  enum class verdict { answer, formerr, notimp, drop };
  verdict what = verdict::drop;
  header head;     // read unless what == drop
  question q;      // complete when what == answer
  std::string why; // empty when what == answer
};

parsed_query parse_query(bytes packet);

/// The zone banger answers for.
struct zone {
  /// Lower case, no trailing dot: "vm", or "banger.internal".
  std::string origin = "vm";
  std::uint32_t ttl = 5;
  /// Lower-case single labels ("web" for web.vm) to their address.
  std::map<std::string, ipv4, std::less<>> hosts;
};

/// The reply to `packet`, or nothing when it must be dropped.
std::optional<std::vector<std::uint8_t>> respond(bytes packet, const zone& z);

/// Reads the possibly compressed name at `offset` into `labels` and moves
/// `offset` past it. Empty on success, else why it is malformed (and then
/// `offset` and `labels` are unspecified).
std::string read_name(bytes packet, std::size_t& offset,
                      std::vector<std::string>& labels);

/// ASCII lower case; other bytes unchanged (DNS compares names that way).
std::string lower(std::string_view s);

/// A strict dotted quad ("10.0.0.2": no leading zeros, no shorthand).
std::optional<ipv4> parse_ipv4(std::string_view text);
std::string to_string(const ipv4& addr);

/// Empty if `origin` can be a zone ("vm", "banger.internal"; any case, one
/// trailing dot allowed), else why not. normalize_zone gives its canonical
/// form (lower case, no trailing dot).
std::string validate_zone(std::string_view origin);
std::string normalize_zone(std::string_view origin);

// -- the client side, for tests and diagnostics
// ------------------------------------------------------------------------------

/// A query for `name` (dotted) with recursion desired, no EDNS.
std::vector<std::uint8_t> make_query(std::uint16_t id, std::string_view name,
                                     std::uint16_t type);

struct record {
  std::vector<std::string> labels;
  std::uint16_t type = 0;
  std::uint16_t cls = 0;
  std::uint32_t ttl = 0;
  std::vector<std::uint8_t> data;
};

struct response {
  header head;
  std::vector<question> questions;
  std::vector<record> answers;
};

/// Decodes a whole response (header, questions, answers; the authority and
/// additional sections are skipped). Nothing if any of it is malformed.
std::optional<response> decode_response(bytes packet);

} // namespace banger::dns
