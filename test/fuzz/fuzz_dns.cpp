// The .vm DNS server's packet handling (services/dns_packet): the input is
// a UDP payload as any guest (or anyone reaching the port) could send it,
// answered for two zones. Checked:
//  - a packet is dropped exactly when parse_query says so;
//  - every reply decodes (decode_response), fits in 512 bytes, carries the
//    query's id with QR set, echoes the question as asked, and an A answer
//    holds the zone's address and TTL for a host of the zone;
//  - decode_response reads any packet without crashing.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "services/dns_packet.hpp"

using namespace banger;

namespace {

[[noreturn]] void bug(const std::string& what) {
  std::fprintf(stderr, "fuzz: %s\n", what.c_str());
  std::abort();
}

dns::zone make_zone(std::string origin) {
  dns::zone z;
  z.origin = std::move(origin);
  z.ttl = 7;
  z.hosts = {{"x", {10, 0, 0, 2}}, {"web", {172, 16, 0, 9}}};
  return z;
}

void check(dns::bytes packet, const dns::zone& z) {
  auto q = dns::parse_query(packet);
  auto reply = dns::respond(packet, z);
  if (!reply) {
    if (q.what != dns::parsed_query::verdict::drop)
      bug("a query that parses was not answered");
    return;
  }
  if (q.what == dns::parsed_query::verdict::drop)
    bug("a packet that must be dropped was answered");
  if (reply->size() > 512)
    bug("a reply larger than 512 bytes: " + std::to_string(reply->size()));
  auto r = dns::decode_response(*reply);
  if (!r)
    bug("a reply does not decode");
  if (r->head.id != q.head.id || (r->head.flags & dns::flag::qr) == 0)
    bug("a reply with another id or without QR");
  if (q.what != dns::parsed_query::verdict::answer)
    return;
  if (r->questions.size() != 1 || r->questions[0].labels != q.q.labels
      || r->questions[0].type != q.q.type || r->questions[0].cls != q.q.cls)
    bug("a reply does not echo the question");
  if (r->answers.size() > 1)
    bug("more than one answer");
  if (r->answers.size() == 1) {
    auto& a = r->answers[0];
    auto origin_labels = z.origin == "vm" ? 1u : 2u;
    if (a.labels != q.q.labels || a.type != dns::qtype::a || a.ttl != z.ttl
        || a.data.size() != 4 || q.q.labels.size() != origin_labels + 1)
      bug("a malformed A answer");
    auto host = z.hosts.find(dns::lower(q.q.labels[0]));
    if (host == z.hosts.end()
        || !std::equal(host->second.begin(), host->second.end(),
                       a.data.begin()))
      bug("an A answer for a host the zone does not have, or with another "
          "address");
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  static const dns::zone vm = make_zone("vm");
  static const dns::zone internal = make_zone("banger.internal");
  dns::bytes packet(data, size);
  check(packet, vm);
  check(packet, internal);
  (void)dns::decode_response(packet);
  return 0;
}
