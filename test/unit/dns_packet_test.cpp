// The .vm resolver's packet logic on hand-built packets: answers, NODATA,
// NXDOMAIN, REFUSED, and every malformed input answered with FORMERR or
// dropped, never read out of bounds.

#include "services/dns_packet.hpp"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace banger::dns {
namespace {

using buffer = std::vector<std::uint8_t>;

void add16(buffer& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v & 0xff));
}

/// A header: flags 0x0100 (RD), the given counts.
buffer head(std::uint16_t id, std::uint16_t flags = flag::rd,
            std::uint16_t qd = 1, std::uint16_t an = 0, std::uint16_t ns = 0,
            std::uint16_t ar = 0) {
  buffer b;
  for (auto v : {id, flags, qd, an, ns, ar})
    add16(b, v);
  return b;
}

/// Labels of the given lengths, filled with 'a', then the final zero.
buffer name_of_lengths(std::vector<std::size_t> lengths) {
  buffer b;
  for (auto n : lengths) {
    b.push_back(static_cast<std::uint8_t>(n));
    b.insert(b.end(), n, 'a');
  }
  b.push_back(0);
  return b;
}

buffer query_with_name(std::uint16_t id, const buffer& name,
                       std::uint16_t type = qtype::a) {
  auto b = head(id);
  b.insert(b.end(), name.begin(), name.end());
  add16(b, type);
  add16(b, class_in);
  return b;
}

zone test_zone() {
  zone z;
  z.hosts["web"] = {10, 0, 0, 2};
  z.hosts["db-1"] = {172, 16, 0, 9};
  return z;
}

response ask(const buffer& packet, const zone& z = test_zone()) {
  auto reply = respond(packet, z);
  EXPECT_TRUE(reply.has_value()) << "the query was dropped";
  if (!reply)
    return {};
  auto r = decode_response(*reply);
  EXPECT_TRUE(r.has_value()) << "the reply does not decode";
  return r ? *r : response{};
}

response ask(std::string_view name, std::uint16_t type = qtype::a,
             const zone& z = test_zone()) {
  return ask(make_query(0x4242, name, type), z);
}

std::vector<std::string> labels(std::initializer_list<const char*> xs) {
  return {xs.begin(), xs.end()};
}

// -- answers
// ---------------------------------------------------------------------

TEST(dns_packet, a_query_for_a_known_host_gets_one_authoritative_record) {
  auto r = ask("web.vm");
  EXPECT_EQ(r.head.id, 0x4242);
  EXPECT_EQ(r.head.rcode(), rcode::noerror);
  EXPECT_TRUE(r.head.flags & flag::qr);
  EXPECT_TRUE(r.head.flags & flag::aa);
  EXPECT_TRUE(r.head.flags & flag::rd) << "RD is copied";
  EXPECT_FALSE(r.head.flags & flag::ra) << "banger never recurses";
  EXPECT_FALSE(r.head.flags & flag::tc);
  ASSERT_EQ(r.questions.size(), 1u);
  EXPECT_EQ(r.questions[0].labels, labels({"web", "vm"}));
  EXPECT_EQ(r.questions[0].type, qtype::a);
  ASSERT_EQ(r.answers.size(), 1u);
  auto& a = r.answers[0];
  EXPECT_EQ(a.labels, labels({"web", "vm"}));
  EXPECT_EQ(a.type, qtype::a);
  EXPECT_EQ(a.cls, class_in);
  EXPECT_EQ(a.ttl, 5u);
  EXPECT_EQ(a.data, (buffer{10, 0, 0, 2}));
  EXPECT_EQ(r.head.nscount, 0);
  EXPECT_EQ(r.head.arcount, 0);
}

TEST(dns_packet, the_answer_bytes_are_exact) {
  auto reply = respond(make_query(7, "web.vm", qtype::a), test_zone());
  ASSERT_TRUE(reply);
  buffer want = {0x00, 0x07, 0x85, 0x00, 0, 1,   0,   1, 0, 0, 0, 0, // header
                 3,    'w',  'e',  'b',  2, 'v', 'm', 0, 0, 1, 0, 1, // question
                 0xc0, 0x0c, 0,    1,    0, 1,   0,   0, 0, 5, 0, 4, // answer
                 10,   0,    0,    2};
  EXPECT_EQ(*reply, want);
}

TEST(dns_packet, names_match_case_insensitively_and_the_case_is_echoed) {
  auto r = ask("WeB.Vm");
  EXPECT_EQ(r.head.rcode(), rcode::noerror);
  ASSERT_EQ(r.answers.size(), 1u);
  EXPECT_EQ(r.answers[0].data, (buffer{10, 0, 0, 2}));
  ASSERT_EQ(r.questions.size(), 1u);
  EXPECT_EQ(r.questions[0].labels, labels({"WeB", "Vm"}));
  EXPECT_EQ(ask("DB-1.VM.").answers.size(), 1u);
}

TEST(dns_packet, any_gets_the_a_record) {
  auto r = ask("web.vm", qtype::any);
  EXPECT_EQ(r.head.rcode(), rcode::noerror);
  ASSERT_EQ(r.answers.size(), 1u);
  EXPECT_EQ(r.answers[0].type, qtype::a);
}

TEST(dns_packet, other_types_for_a_known_host_get_nodata) {
  for (std::uint16_t type : {qtype::aaaa, std::uint16_t{15}, std::uint16_t{16},
                             std::uint16_t{12}, qtype::opt}) {
    auto r = ask("web.vm", type);
    EXPECT_EQ(r.head.rcode(), rcode::noerror) << type;
    EXPECT_TRUE(r.head.flags & flag::aa) << type;
    EXPECT_EQ(r.head.ancount, 0) << type;
    ASSERT_EQ(r.questions.size(), 1u);
    EXPECT_EQ(r.questions[0].type, type);
  }
}

TEST(dns_packet, the_zone_apex_exists_without_records) {
  auto r = ask("vm");
  EXPECT_EQ(r.head.rcode(), rcode::noerror);
  EXPECT_EQ(r.head.ancount, 0);
}

TEST(dns_packet, unknown_names_in_the_zone_get_nxdomain_with_the_question) {
  for (auto name : {"nope.vm", "a.web.vm", "webx.vm", "we.vm"}) {
    auto r = ask(name);
    EXPECT_EQ(r.head.rcode(), rcode::nxdomain) << name;
    EXPECT_TRUE(r.head.flags & flag::aa) << name;
    EXPECT_EQ(r.head.ancount, 0) << name;
    ASSERT_EQ(r.questions.size(), 1u) << name;
    EXPECT_EQ(r.questions[0].type, qtype::a);
  }
  EXPECT_EQ(ask("nope.vm").questions[0].labels, labels({"nope", "vm"}));
}

TEST(dns_packet, names_outside_the_zone_are_refused_never_forwarded) {
  for (auto name : {"example.com", "web.vm.example.com", "web.vmx", "com",
                    "web.xvm", "."}) {
    auto r = ask(name);
    EXPECT_EQ(r.head.rcode(), rcode::refused) << name;
    EXPECT_FALSE(r.head.flags & flag::aa) << name;
    EXPECT_EQ(r.head.ancount, 0) << name;
    EXPECT_EQ(r.questions.size(), 1u) << name;
  }
}

TEST(dns_packet, other_classes_and_zone_transfers_are_refused) {
  auto chaos = make_query(1, "web.vm", qtype::a);
  chaos[chaos.size() - 1] = 3; // class CH
  EXPECT_EQ(ask(chaos).head.rcode(), rcode::refused);
  EXPECT_EQ(ask("vm", qtype::axfr).head.rcode(), rcode::refused);
  EXPECT_EQ(ask("vm", qtype::ixfr).head.rcode(), rcode::refused);
}

TEST(dns_packet, the_zone_and_ttl_are_configurable) {
  auto z = test_zone();
  z.origin = "banger.internal";
  z.ttl = 30;
  auto r = ask("web.Banger.Internal", qtype::a, z);
  EXPECT_EQ(r.head.rcode(), rcode::noerror);
  ASSERT_EQ(r.answers.size(), 1u);
  EXPECT_EQ(r.answers[0].ttl, 30u);
  EXPECT_EQ(ask("web.vm", qtype::a, z).head.rcode(), rcode::refused);
  EXPECT_EQ(ask("internal", qtype::a, z).head.rcode(), rcode::refused);
  EXPECT_EQ(ask("x.banger.internal", qtype::a, z).head.rcode(),
            rcode::nxdomain);
}

TEST(dns_packet, edns_opt_records_are_ignored) {
  auto q = make_query(9, "web.vm", qtype::a);
  q[11] = 1;                                          // ARCOUNT = 1
  buffer opt = {0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0}; // root, OPT, 4096
  q.insert(q.end(), opt.begin(), opt.end());
  auto r = ask(q);
  EXPECT_EQ(r.head.rcode(), rcode::noerror);
  EXPECT_EQ(r.answers.size(), 1u);
  EXPECT_EQ(r.head.arcount, 0);
}

TEST(dns_packet, ids_are_echoed_in_every_kind_of_reply) {
  for (std::uint16_t id : {0, 1, 0x1234, 0x8000, 0xffff}) {
    EXPECT_EQ(ask(make_query(id, "web.vm", qtype::a)).head.id, id);
    EXPECT_EQ(ask(make_query(id, "no.vm", qtype::a)).head.id, id);
    EXPECT_EQ(ask(make_query(id, "example.com", qtype::a)).head.id, id);
    EXPECT_EQ(ask(head(id)).head.id, id);          // FORMERR
    EXPECT_EQ(ask(head(id, 2 << 11)).head.id, id); // NOTIMP
  }
}

// -- malformed input
// -------------------------------------------------------------

TEST(dns_packet, anything_shorter_than_a_header_is_dropped) {
  auto full = make_query(5, "web.vm", qtype::a);
  for (std::size_t n = 0; n < header_size; ++n)
    EXPECT_FALSE(respond({full.data(), n}, test_zone())) << n << " bytes";
}

TEST(dns_packet, responses_are_dropped_so_two_servers_cannot_loop) {
  auto q = make_query(5, "web.vm", qtype::a);
  q[2] |= 0x80;
  EXPECT_FALSE(respond(q, test_zone()));
  auto reply = respond(make_query(5, "web.vm", qtype::a), test_zone());
  ASSERT_TRUE(reply);
  EXPECT_FALSE(respond(*reply, test_zone()));
}

TEST(dns_packet, a_header_without_its_question_gets_formerr) {
  auto r = ask(head(0x0bad));
  EXPECT_EQ(r.head.id, 0x0bad);
  EXPECT_EQ(r.head.rcode(), rcode::formerr);
  EXPECT_EQ(r.head.qdcount, 0);
  EXPECT_EQ(r.head.ancount, 0);
  EXPECT_FALSE(r.head.flags & flag::aa);
}

TEST(dns_packet, a_question_cut_anywhere_gets_formerr) {
  auto full = make_query(5, "web.vm", qtype::a);
  for (auto n = header_size; n < full.size(); ++n) {
    auto reply = respond({full.data(), n}, test_zone());
    ASSERT_TRUE(reply) << n;
    EXPECT_EQ(reply->size(), header_size);
    EXPECT_EQ((*reply)[3] & 0xf, 1) << n << " bytes";
  }
}

TEST(dns_packet, exactly_one_question_is_required) {
  auto none = make_query(5, "web.vm", qtype::a);
  none[5] = 0;
  EXPECT_EQ(ask(none).head.rcode(), rcode::formerr);
  auto two = make_query(5, "web.vm", qtype::a);
  two[5] = 2;
  EXPECT_EQ(ask(two).head.rcode(), rcode::formerr);
}

TEST(dns_packet, other_opcodes_get_notimp) {
  for (std::uint16_t op : {1, 2, 4, 5, 15}) {
    auto q = make_query(5, "web.vm", qtype::a);
    q[2] = static_cast<std::uint8_t>(q[2] | (op << 3));
    auto r = ask(q);
    EXPECT_EQ(r.head.rcode(), rcode::notimp) << op;
    EXPECT_EQ(r.head.opcode(), op);
  }
}

TEST(dns_packet, label_lengths_beyond_63_are_refused_as_malformed) {
  // 0x40 and 0x80 are the reserved label types, not lengths.
  for (std::uint8_t len : {0x40, 0x41, 0x7f, 0x80, 0xbf}) {
    buffer name = {len};
    name.insert(name.end(), 70, 'a');
    name.push_back(0);
    EXPECT_EQ(ask(query_with_name(1, name)).head.rcode(), rcode::formerr)
        << int(len);
  }
  auto ok = ask(query_with_name(1, name_of_lengths({63})));
  EXPECT_EQ(ok.head.rcode(), rcode::refused) << "63 is fine";
}

TEST(dns_packet, a_label_longer_than_the_packet_gets_formerr) {
  auto b = head(1);
  b.push_back(20);
  b.insert(b.end(), {'a', 'b', 'c'});
  EXPECT_EQ(ask(b).head.rcode(), rcode::formerr);
  auto c = head(1);
  c.push_back(3);
  c.insert(c.end(), {'a', 'b', 'c'}); // no terminating zero
  EXPECT_EQ(ask(c).head.rcode(), rcode::formerr);
}

TEST(dns_packet, names_longer_than_255_octets_get_formerr) {
  // 3 * 64 + 59 + 3 + 1 = 255 octets: the longest name in .vm.
  auto longest = name_of_lengths({63, 63, 63, 58});
  longest.pop_back();
  longest.insert(longest.end(), {2, 'v', 'm', 0});
  ASSERT_EQ(longest.size(), 255u);
  EXPECT_EQ(ask(query_with_name(1, longest)).head.rcode(), rcode::nxdomain);

  auto too_long = name_of_lengths({63, 63, 63, 59});
  too_long.pop_back();
  too_long.insert(too_long.end(), {2, 'v', 'm', 0});
  ASSERT_EQ(too_long.size(), 256u);
  EXPECT_EQ(ask(query_with_name(1, too_long)).head.rcode(), rcode::formerr);

  EXPECT_EQ(
      ask(query_with_name(1, name_of_lengths(std::vector<std::size_t>(200, 1))))
          .head.rcode(),
      rcode::formerr);
}

TEST(dns_packet, compression_pointers_in_the_question_get_formerr) {
  // To itself (a loop), into the header, forwards, and cut off.
  for (buffer name :
       {buffer{0xc0, 0x0c}, buffer{0xc0, 0x00}, buffer{0xc0, 0x05},
        buffer{1, 'a', 0xc0, 0x0c}, buffer{0xc0, 0x20}, buffer{0xff, 0xff}}) {
    EXPECT_EQ(ask(query_with_name(1, name)).head.rcode(), rcode::formerr);
  }
  auto cut = head(1);
  cut.push_back(0xc0);
  EXPECT_EQ(ask(cut).head.rcode(), rcode::formerr);
}

TEST(dns_packet, read_name_follows_backward_pointers_and_stops_loops) {
  // 12: "vm"; 16: "web" -> 12; 22: pointer -> 16; 24: pointer -> 26 (fwd);
  // 26: pointer -> 24 (back, but 24 points forwards again).
  auto b = head(0);
  b.insert(b.end(), {2, 'v', 'm', 0, 3, 'w', 'e', 'b', 0xc0, 12, 0xc0, 16, 0xc0,
                     26, 0xc0, 24});
  std::vector<std::string> out;
  std::size_t pos = 16;
  EXPECT_EQ(read_name(b, pos, out), "");
  EXPECT_EQ(out, labels({"web", "vm"}));
  EXPECT_EQ(pos, 22u);
  pos = 22;
  EXPECT_EQ(read_name(b, pos, out), "");
  EXPECT_EQ(out, labels({"web", "vm"}));
  EXPECT_EQ(pos, 24u);
  pos = 24;
  EXPECT_NE(read_name(b, pos, out), "");
  pos = 26;
  EXPECT_NE(read_name(b, pos, out), "");
  pos = b.size();
  EXPECT_NE(read_name(b, pos, out), "");
}

TEST(dns_packet, random_and_mutated_packets_never_crash) {
  std::mt19937 rng(1234);
  auto z = test_zone();
  auto base = make_query(77, "web.vm", qtype::a);
  for (int i = 0; i < 100000; ++i) {
    buffer p;
    if (i % 2 == 0) {
      p.resize(rng() % 300);
      for (auto& x : p)
        x = static_cast<std::uint8_t>(rng());
    } else {
      p = base;
      for (int k = 0, n = 1 + static_cast<int>(rng() % 4); k < n; ++k)
        p[rng() % p.size()] = static_cast<std::uint8_t>(rng());
      p.resize(rng() % (p.size() + 8));
    }
    auto reply = respond(p, z);
    if (!reply)
      continue;
    ASSERT_GE(reply->size(), header_size);
    ASSERT_LE(reply->size(), 12u + 255 + 4 + 16);
    EXPECT_EQ((*reply)[0], p[0]);
    EXPECT_EQ((*reply)[1], p[1]);
    ASSERT_TRUE(decode_response(*reply)) << "reply " << i << " is malformed";
  }
}

// -- helpers
// ---------------------------------------------------------------------

TEST(dns_packet, ipv4_addresses_are_strict_dotted_quads) {
  EXPECT_EQ(parse_ipv4("10.0.0.2"), (ipv4{10, 0, 0, 2}));
  EXPECT_EQ(parse_ipv4("255.255.255.255"), (ipv4{255, 255, 255, 255}));
  EXPECT_EQ(parse_ipv4("0.0.0.0"), (ipv4{0, 0, 0, 0}));
  for (auto bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1..2.3",
                   "1.2.3.4.", " 1.2.3.4", "1.2.3.4 ", "a.b.c.d", "1.2.3.-4",
                   "1.2.3.+4", "1234.1.1.1", "::1"})
    EXPECT_FALSE(parse_ipv4(bad)) << bad;
  EXPECT_EQ(to_string(ipv4{172, 16, 0, 9}), "172.16.0.9");
}

TEST(dns_packet, zones_are_validated_and_normalized) {
  for (auto ok : {"vm", "VM", "vm.", "banger.internal", "a-b.c1"})
    EXPECT_EQ(validate_zone(ok), "") << ok;
  for (auto bad : {"", ".", "..", "vm..", ".vm", "a..b", "-vm", "vm-", "v_m",
                   "v m", "vm/"})
    EXPECT_NE(validate_zone(bad), "") << bad;
  EXPECT_NE(validate_zone(std::string(64, 'a')), "");
  EXPECT_EQ(normalize_zone("Banger.Internal."), "banger.internal");
}

} // namespace
} // namespace banger::dns
