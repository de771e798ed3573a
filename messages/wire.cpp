#include "messages/wire.hpp"

#include <algorithm>
#include <cerrno>
#include <system_error>

#include <cstring>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef BANGER_WIRE_NLOHMANN
#  include <simdjson.h>
#endif

namespace banger::wire {

namespace {

void put_u32be(std::string& out, std::uint32_t n) {
  out.push_back(static_cast<char>((n >> 24) & 0xff));
  out.push_back(static_cast<char>((n >> 16) & 0xff));
  out.push_back(static_cast<char>((n >> 8) & 0xff));
  out.push_back(static_cast<char>(n & 0xff));
}

std::uint32_t get_u32be(const char* p) {
  auto b = reinterpret_cast<const unsigned char*>(p);
  return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16)
         | (std::uint32_t{b[2]} << 8) | std::uint32_t{b[3]};
}

#ifndef BANGER_WIRE_NLOHMANN
// simdjson parses and validates (UTF-8, structure, numbers); the document is
// then held as nlohmann::json so that one set of typed codecs serves the host
// and the static guest agent alike.
json to_json(simdjson::dom::element el) {
  using simdjson::dom::element_type;
  switch (el.type()) {
    case element_type::ARRAY: {
      json arr = json::array();
      for (auto child : el.get_array())
        arr.push_back(to_json(child));
      return arr;
    }
    case element_type::OBJECT: {
      json obj = json::object();
      for (auto field : el.get_object()) {
        std::string key(field.key);
        if (obj.contains(key))
          throw decode_error("duplicate key '" + key + "'");
        obj[key] = to_json(field.value);
      }
      return obj;
    }
    case element_type::INT64:
      return json(std::int64_t(el.get_int64()));
    case element_type::UINT64:
      return json(std::uint64_t(el.get_uint64()));
    case element_type::DOUBLE:
      return json(double(el.get_double()));
    case element_type::STRING:
      return json(std::string(std::string_view(el.get_string())));
    case element_type::BOOL:
      return json(bool(el.get_bool()));
    case element_type::NULL_VALUE:
      return json(nullptr);
  }
  throw decode_error("unsupported JSON value");
}

json parse_json(std::string_view payload) {
  // One parser per thread: parsers are reusable but not thread-safe.
  thread_local simdjson::dom::parser parser;
  simdjson::padded_string padded(payload);
  simdjson::dom::element root;
  if (auto err = parser.parse(padded).get(root); err)
    throw decode_error(std::string("malformed JSON: ")
                       + simdjson::error_message(err));
  return to_json(root);
}
#else
json parse_json(std::string_view payload) {
  try {
    return json::parse(payload);
  } catch (const json::exception& e) {
    throw decode_error(std::string("malformed JSON: ") + e.what());
  }
}
#endif

} // namespace

std::string encode_frame(const envelope& env) {
  json j = {{"v", env.v}, {"id", env.id}, {"type", env.type}, {"body", env.body}};
  // Invalid UTF-8 in a string is replaced rather than thrown on: a frame is
  // always produced. Byte payloads travel base64-encoded anyway.
  auto text = j.dump(-1, ' ', false, json::error_handler_t::replace);
  std::string out;
  out.reserve(text.size() + 4);
  put_u32be(out, static_cast<std::uint32_t>(text.size()));
  out += text;
  return out;
}

envelope parse_envelope(std::string_view payload) {
  auto j = parse_json(payload);
  if (!j.is_object())
    throw decode_error("frame is not a JSON object");
  envelope env;
  object_reader r(j, "frame");
  r.required("v", env.v);
  if (env.v != protocol_version)
    throw decode_error("unsupported protocol version " + std::to_string(env.v)
                       + " (this side speaks "
                       + std::to_string(protocol_version) + ")");
  r.required("id", env.id);
  r.required("type", env.type);
  if (env.type.empty())
    throw decode_error("frame: field 'type' is empty");
  r.optional("body", env.body);
  if (!env.body.is_object())
    throw decode_error("frame: field 'body' must be an object");
  r.finish();
  return env;
}

void frame_reader::feed(const char* data, std::size_t size) {
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > (1u << 20)) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(data, size);
}

std::optional<std::string> frame_reader::next() {
  if (buffered() < 4)
    return std::nullopt;
  auto len = get_u32be(buf_.data() + pos_);
  if (len > max_frame_)
    throw decode_error("frame of " + std::to_string(len)
                       + " bytes exceeds the limit of "
                       + std::to_string(max_frame_) + " bytes");
  if (buffered() < 4 + std::size_t{len})
    return std::nullopt;
  std::string payload = buf_.substr(pos_ + 4, len);
  pos_ += 4 + len;
  return payload;
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    auto n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

bool send_all(int sock, std::string_view data, int pass_fd) {
  while (!data.empty()) {
    iovec iov{const_cast<char*>(data.data()), data.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    if (pass_fd >= 0) {
      msg.msg_control = control;
      msg.msg_controllen = sizeof(control);
      auto* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
    }
    auto n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return false;
    }
    // Once any byte is out, the descriptor went with it.
    if (n > 0)
      pass_fd = -1;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

long recv_with_fds(int sock, char* buf, std::size_t size,
                   std::vector<int>& fds) {
  // Room for a few descriptors: a peer sending more than that gets the
  // excess closed by the kernel (MSG_CTRUNC), never leaked into us.
  alignas(cmsghdr) char control[CMSG_SPACE(4 * sizeof(int))];
  for (;;) {
    iovec iov{buf, size};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    auto n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -1;
    for (auto* c = CMSG_FIRSTHDR(&msg); c != nullptr;
         c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
        continue;
      auto count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < count; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        fds.push_back(fd);
      }
    }
    return static_cast<long>(n);
  }
}

int connect_unix(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    errno = ENAMETOOLONG;
    return -1;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  int rc;
  do {
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    int saved = errno;
    ::close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

std::optional<envelope> read_envelope(int fd, frame_reader& reader) {
  for (;;) {
    if (auto payload = reader.next())
      return parse_envelope(*payload);
    char buf[65536];
    auto n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      throw std::system_error(errno, std::generic_category(), "read");
    }
    if (n == 0) {
      if (reader.buffered() == 0)
        return std::nullopt;
      throw decode_error("connection closed in the middle of a frame");
    }
    reader.feed(buf, static_cast<std::size_t>(n));
  }
}

// -- base64 -------------------------------------------------------------------

namespace {
constexpr char b64_chars[]
  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}
} // namespace

std::string base64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  auto byte = [&](std::size_t k) {
    return static_cast<unsigned char>(in[k]);
  };
  for (; i + 2 < in.size(); i += 3) {
    std::uint32_t n = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out += b64_chars[(n >> 18) & 63];
    out += b64_chars[(n >> 12) & 63];
    out += b64_chars[(n >> 6) & 63];
    out += b64_chars[n & 63];
  }
  if (i + 1 == in.size()) {
    std::uint32_t n = byte(i) << 16;
    out += b64_chars[(n >> 18) & 63];
    out += b64_chars[(n >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    std::uint32_t n = (byte(i) << 16) | (byte(i + 1) << 8);
    out += b64_chars[(n >> 18) & 63];
    out += b64_chars[(n >> 12) & 63];
    out += b64_chars[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string base64_decode(std::string_view in) {
  if (in.size() % 4 != 0)
    throw decode_error("base64 length is not a multiple of 4");
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (std::size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      char c = in[i + k];
      if (c == '=' && i + 4 == in.size() && k >= 2) {
        v[k] = 0;
        ++pad;
        continue;
      }
      if (pad > 0 || (v[k] = b64_value(c)) < 0)
        throw decode_error("invalid base64 data");
    }
    std::uint32_t n = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out += static_cast<char>((n >> 16) & 0xff);
    if (pad < 2)
      out += static_cast<char>((n >> 8) & 0xff);
    if (pad < 1)
      out += static_cast<char>(n & 0xff);
  }
  return out;
}

// -- object_reader --------------------------------------------------------------

object_reader::object_reader(const json& j, std::string_view what)
  : j_(j), what_(what) {
  if (!j_.is_object())
    fail("expected a JSON object");
}

const json* object_reader::find(const char* key) {
  auto it = j_.find(key);
  if (it == j_.end())
    return nullptr;
  seen_.emplace_back(key);
  return &*it;
}

void object_reader::finish() {
  for (auto& [key, _] : j_.items())
    if (std::find(seen_.begin(), seen_.end(), key) == seen_.end())
      fail("unknown field '" + key + "'");
}

void object_reader::fail(const std::string& why) const {
  throw decode_error(what_ + ": " + why);
}

} // namespace banger::wire
