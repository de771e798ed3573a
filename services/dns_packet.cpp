#include "services/dns_packet.hpp"

#include <charconv>

namespace banger::dns {

namespace {

std::uint16_t get16(bytes p, std::size_t at) {
  return static_cast<std::uint16_t>((p[at] << 8) | p[at + 1]);
}

std::uint32_t get32(bytes p, std::size_t at) {
  return (std::uint32_t{get16(p, at)} << 16) | get16(p, at + 2);
}

void put16(std::vector<std::uint8_t>& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v & 0xff));
}

void put32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  put16(out, static_cast<std::uint16_t>(v >> 16));
  put16(out, static_cast<std::uint16_t>(v & 0xffff));
}

header read_header(bytes p) {
  return {get16(p, 0), get16(p, 2), get16(p, 4),
          get16(p, 6), get16(p, 8), get16(p, 10)};
}

void write_header(std::vector<std::uint8_t>& out, const header& h) {
  put16(out, h.id);
  put16(out, h.flags);
  put16(out, h.qdcount);
  put16(out, h.ancount);
  put16(out, h.nscount);
  put16(out, h.arcount);
}

void write_name(std::vector<std::uint8_t>& out,
                const std::vector<std::string>& labels) {
  for (auto& label : labels) {
    out.push_back(static_cast<std::uint8_t>(label.size()));
    out.insert(out.end(), label.begin(), label.end());
  }
  out.push_back(0);
}

std::vector<std::string> split(std::string_view dotted) {
  std::vector<std::string> labels;
  if (!dotted.empty() && dotted.back() == '.')
    dotted.remove_suffix(1);
  while (!dotted.empty()) {
    auto dot = dotted.find('.');
    labels.emplace_back(dotted.substr(0, dot));
    if (dot == std::string_view::npos)
      break;
    dotted.remove_prefix(dot + 1);
  }
  return labels;
}

bool ldh(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

// The reply header: same id and opcode, RD copied, never RA (no recursion).
header reply_header(const header& query, rcode code, bool authoritative) {
  header h;
  h.id = query.id;
  h.flags = static_cast<std::uint16_t>(
      flag::qr | (query.flags & 0x7800) | (query.flags & flag::rd)
      | (authoritative ? flag::aa : 0) | static_cast<std::uint16_t>(code));
  return h;
}

std::vector<std::uint8_t> header_only(const header& query, rcode code) {
  std::vector<std::uint8_t> out;
  write_header(out, reply_header(query, code, false));
  return out;
}

} // namespace

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string read_name(bytes p, std::size_t& offset,
                      std::vector<std::string>& labels) {
  labels.clear();
  std::size_t pos = offset;
  std::size_t run_start = offset; // where the current run of labels began
  std::size_t octets = 1;         // the final zero
  bool jumped = false;
  for (;;) {
    if (pos >= p.size())
      return "the name runs past the end of the packet";
    auto len = p[pos];
    if ((len & 0xc0) == 0xc0) {
      if (pos + 1 >= p.size())
        return "a compression pointer is cut off";
      std::size_t target = ((len & 0x3fu) << 8) | p[pos + 1];
      if (target < header_size)
        return "a compression pointer points into the header";
      // Strictly backwards from where this run began: targets shrink at
      // every jump, so the walk ends.
      if (target >= run_start)
        return "a compression pointer does not point backwards";
      if (!jumped)
        offset = pos + 2;
      jumped = true;
      pos = run_start = target;
      continue;
    }
    if ((len & 0xc0) != 0)
      return "an extended label type is not supported";
    if (len == 0) {
      if (!jumped)
        offset = pos + 1;
      return {};
    }
    octets += 1 + len;
    if (octets > max_name_octets)
      return "the name is longer than 255 octets";
    if (p.size() - pos - 1 < len)
      return "a label runs past the end of the packet";
    labels.emplace_back(reinterpret_cast<const char*>(&p[pos + 1]), len);
    pos += 1 + len;
  }
}

parsed_query parse_query(bytes p) {
  parsed_query out;
  if (p.size() < header_size) {
    out.why = "shorter than a DNS header";
    return out;
  }
  out.head = read_header(p);
  if (out.head.flags & flag::qr) {
    out.why = "a response, not a query";
    return out;
  }
  if (out.head.opcode() != 0) {
    out.what = parsed_query::verdict::notimp;
    out.why = "only standard queries are supported";
    return out;
  }
  out.what = parsed_query::verdict::formerr;
  if (out.head.qdcount != 1) {
    out.why = "a query must ask exactly one question";
    return out;
  }
  std::size_t pos = header_size;
  if (auto why = read_name(p, pos, out.q.labels); !why.empty()) {
    out.why = std::move(why);
    return out;
  }
  if (p.size() - pos < 4) {
    out.why = "the question is cut off after its name";
    return out;
  }
  out.q.type = get16(p, pos);
  out.q.cls = get16(p, pos + 2);
  // Whatever follows (an EDNS OPT record, say) is ignored.
  out.what = parsed_query::verdict::answer;
  return out;
}

std::optional<std::vector<std::uint8_t>> respond(bytes packet, const zone& z) {
  auto query = parse_query(packet);
  using verdict = parsed_query::verdict;
  switch (query.what) {
  case verdict::drop:
    return std::nullopt;
  case verdict::formerr:
    return header_only(query.head, rcode::formerr);
  case verdict::notimp:
    return header_only(query.head, rcode::notimp);
  case verdict::answer:
    break;
  }
  auto& q = query.q;
  auto origin = split(z.origin);
  bool in_zone = q.labels.size() >= origin.size();
  for (std::size_t i = 0; in_zone && i < origin.size(); ++i)
    in_zone = lower(q.labels[q.labels.size() - origin.size() + i]) == origin[i];
  bool transfer = q.type == qtype::axfr || q.type == qtype::ixfr;
  bool internet = q.cls == class_in || q.cls == class_any;

  rcode code = rcode::refused;
  const ipv4* addr = nullptr;
  bool exists = false;
  if (in_zone && internet && !transfer) {
    auto host_labels = q.labels.size() - origin.size();
    if (host_labels == 0) {
      exists = true; // the apex: it exists, but has no A record
    } else if (host_labels == 1) {
      if (auto i = z.hosts.find(lower(q.labels.front())); i != z.hosts.end()) {
        exists = true;
        if (q.type == qtype::a || q.type == qtype::any)
          addr = &i->second;
      }
    }
    code = exists ? rcode::noerror : rcode::nxdomain;
  }

  auto h = reply_header(query.head, code, code != rcode::refused);
  h.qdcount = 1;
  h.ancount = addr ? 1 : 0;
  std::vector<std::uint8_t> out;
  out.reserve(header_size + max_name_octets + 4 + 16);
  write_header(out, h);
  write_name(out, q.labels);
  put16(out, q.type);
  put16(out, q.cls);
  if (addr) {
    put16(out, 0xc000 | header_size); // the question's name
    put16(out, qtype::a);
    put16(out, class_in);
    put32(out, z.ttl);
    put16(out, 4);
    out.insert(out.end(), addr->begin(), addr->end());
  }
  return out;
}

std::optional<ipv4> parse_ipv4(std::string_view text) {
  ipv4 out{};
  for (std::size_t i = 0; i < 4; ++i) {
    auto dot = text.find('.');
    if ((i < 3) == (dot == std::string_view::npos))
      return std::nullopt;
    auto part = text.substr(0, dot);
    if (part.empty() || part.size() > 3 || (part.size() > 1 && part[0] == '0'))
      return std::nullopt;
    unsigned v = 0;
    auto [end, err] =
        std::from_chars(part.data(), part.data() + part.size(), v);
    if (err != std::errc{} || end != part.data() + part.size() || v > 255)
      return std::nullopt;
    out[i] = static_cast<std::uint8_t>(v);
    text.remove_prefix(i < 3 ? dot + 1 : part.size());
  }
  return out;
}

std::string to_string(const ipv4& a) {
  return std::to_string(a[0]) + "." + std::to_string(a[1]) + "."
         + std::to_string(a[2]) + "." + std::to_string(a[3]);
}

std::string validate_zone(std::string_view origin) {
  auto canon = normalize_zone(origin);
  if (canon.empty())
    return "the zone is empty";
  if (canon.size() > 253)
    return "the zone is longer than 253 characters";
  std::string_view rest = canon;
  for (;;) {
    auto dot = rest.find('.');
    auto label = rest.substr(0, dot);
    if (label.empty())
      return "the zone has an empty label";
    if (label.size() > max_label_octets)
      return "a label of the zone is longer than 63 characters";
    for (char c : label)
      if (!ldh(c))
        return "the zone may only hold letters, digits, '-' and '.'";
    if (label.front() == '-' || label.back() == '-')
      return "a label of the zone starts or ends with '-'";
    if (dot == std::string_view::npos)
      return {};
    rest.remove_prefix(dot + 1);
  }
}

std::string normalize_zone(std::string_view origin) {
  if (!origin.empty() && origin.back() == '.')
    origin.remove_suffix(1);
  return lower(origin);
}

std::vector<std::uint8_t> make_query(std::uint16_t id, std::string_view name,
                                     std::uint16_t type) {
  std::vector<std::uint8_t> out;
  header h;
  h.id = id;
  h.flags = flag::rd;
  h.qdcount = 1;
  write_header(out, h);
  write_name(out, split(name));
  put16(out, type);
  put16(out, class_in);
  return out;
}

std::optional<response> decode_response(bytes p) {
  if (p.size() < header_size)
    return std::nullopt;
  response out;
  out.head = read_header(p);
  std::size_t pos = header_size;
  for (unsigned i = 0; i < out.head.qdcount; ++i) {
    question q;
    if (!read_name(p, pos, q.labels).empty() || p.size() - pos < 4)
      return std::nullopt;
    q.type = get16(p, pos);
    q.cls = get16(p, pos + 2);
    pos += 4;
    out.questions.push_back(std::move(q));
  }
  for (unsigned i = 0; i < out.head.ancount; ++i) {
    record r;
    if (!read_name(p, pos, r.labels).empty() || p.size() - pos < 10)
      return std::nullopt;
    r.type = get16(p, pos);
    r.cls = get16(p, pos + 2);
    r.ttl = get32(p, pos + 4);
    std::size_t len = get16(p, pos + 8);
    pos += 10;
    if (p.size() - pos < len)
      return std::nullopt;
    r.data.assign(p.begin() + static_cast<std::ptrdiff_t>(pos),
                  p.begin() + static_cast<std::ptrdiff_t>(pos + len));
    pos += len;
    out.answers.push_back(std::move(r));
  }
  return out;
}

} // namespace banger::dns
