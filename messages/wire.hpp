#pragma once
// The one framing for every socket banger owns (CLI <-> bangerd, bangerd <->
// agent, bangerd <-> banger-helper): a 4-byte big-endian length, then a JSON
// object
//   {"v":1,"id":<u64>,"type":"<name>","body":{...}}
// This header has no CAF in it: the static guest agent links it too.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace banger::wire {

using json = nlohmann::json;

inline constexpr std::uint32_t protocol_version = 1;
/// Frames larger than this are refused before any of the payload is read.
inline constexpr std::size_t default_max_frame = 8u << 20;

/// A decoded frame. `type` names the message; `body` is always an object.
struct envelope {
  std::uint32_t v = protocol_version;
  std::uint64_t id = 0;
  std::string type;
  json body = json::object();
};

/// Thrown by decoders for malformed input; never crosses an actor boundary.
struct decode_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Serializes an envelope into length prefix + JSON.
std::string encode_frame(const envelope& env);

/// Parses one frame payload (the JSON text, without the length prefix).
/// Checks the version, that id/type/body are present with the right types and
/// that no other field exists. Throws decode_error with a readable reason.
envelope parse_envelope(std::string_view payload);

/// Incremental reader: feed bytes as they arrive, pop complete payloads.
class frame_reader {
public:
  explicit frame_reader(std::size_t max_frame = default_max_frame)
    : max_frame_(max_frame) {
  }

  void feed(const char* data, std::size_t size);

  /// Returns the next complete payload, if any. Throws decode_error when the
  /// announced length exceeds the limit (the stream is unusable after that).
  std::optional<std::string> next();

  std::size_t buffered() const {
    return buf_.size() - pos_;
  }

private:
  std::size_t max_frame_;
  std::string buf_;
  std::size_t pos_ = 0;
};

/// Blocking helpers for file descriptors (sockets, virtio-serial ports).
/// write_all returns false on error (errno is kept).
bool write_all(int fd, std::string_view data);

/// Writes all of `data` to a socket with send(MSG_NOSIGNAL): a peer that went
/// away gives EPIPE, never SIGPIPE. When `pass_fd` >= 0 it travels with the
/// first byte as SCM_RIGHTS (Unix sockets only; the sender keeps its copy).
/// Returns false on error (errno is kept).
bool send_all(int sock, std::string_view data, int pass_fd = -1);

/// One recvmsg on a Unix socket: up to `size` bytes into `buf`, and every
/// SCM_RIGHTS descriptor that came with them appended to `fds` (received
/// CLOEXEC; the caller owns them, including when this fails). Returns the
/// byte count, 0 on EOF, -1 with errno set (EINTR is retried).
long recv_with_fds(int sock, char* buf, std::size_t size,
                   std::vector<int>& fds);

/// Connects a CLOEXEC Unix stream socket to `path`. Returns the fd, or -1
/// with errno set (ENAMETOOLONG when the path does not fit sun_path).
int connect_unix(const std::string& path);

/// Reads until a whole frame is available. Returns nullopt on EOF before any
/// byte of a frame; throws decode_error on a malformed or oversized frame and
/// std::system_error on read errors.
std::optional<envelope> read_envelope(int fd, frame_reader& reader);

// -- base64 for byte payloads (stdin/stdout chunks) --------------------------

std::string base64_encode(std::string_view bytes);
/// Throws decode_error on invalid input.
std::string base64_decode(std::string_view text);

// -- strict object decoding ---------------------------------------------------

/// Walks a JSON object field by field. Missing required fields, wrong types
/// and unknown fields all throw decode_error naming the field and the message.
class object_reader {
public:
  object_reader(const json& j, std::string_view what);

  template <class T>
  void required(const char* key, T& out) {
    auto it = find(key);
    if (it == nullptr)
      fail(std::string("missing field '") + key + "'");
    get(key, *it, out);
  }

  template <class T>
  void optional(const char* key, T& out) {
    if (auto it = find(key); it != nullptr && !it->is_null())
      get(key, *it, out);
  }

  /// Throws if a field was present that no required/optional call consumed.
  void finish();

  [[noreturn]] void fail(const std::string& why) const;

private:
  const json* find(const char* key);

  template <class T>
  void get(const char* key, const json& v, T& out) {
    try {
      if constexpr (std::is_same_v<T, bool>) {
        if (!v.is_boolean())
          throw decode_error("expected a boolean");
      } else if constexpr (std::is_integral_v<T>) {
        if (!v.is_number_integer())
          throw decode_error("expected an integer");
        if constexpr (std::is_unsigned_v<T>) {
          if (v.is_number_integer() && !v.is_number_unsigned()
              && v.get<std::int64_t>() < 0)
            throw decode_error("expected a non-negative integer");
        }
        // get<T> would narrow silently (4294967297 -> 1 in a uint32_t).
        check_range<T>(v);
      } else if constexpr (std::is_same_v<T, std::string>) {
        if (!v.is_string())
          throw decode_error("expected a string");
      } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
        if (!v.is_array())
          throw decode_error("expected an array of strings");
        for (auto& e : v)
          if (!e.is_string())
            throw decode_error("expected an array of strings");
      }
      if constexpr (std::is_same_v<T, json>)
        out = v;
      else
        out = v.get<T>();
    } catch (const decode_error& e) {
      fail(std::string("field '") + key + "': " + e.what());
    } catch (const json::exception& e) {
      fail(std::string("field '") + key + "': " + e.what());
    }
  }

  // A JSON integer that does not fit T is refused, never narrowed.
  template <class T>
  static void check_range(const json& v) {
    using lim = std::numeric_limits<T>;
    if constexpr (sizeof(T) < sizeof(std::uint64_t)) {
      bool fits = v.is_number_unsigned()
                    ? v.get<std::uint64_t>() <= static_cast<std::uint64_t>(lim::max())
                    : v.get<std::int64_t>() >= static_cast<std::int64_t>(lim::min())
                        && v.get<std::int64_t>() <= static_cast<std::int64_t>(lim::max());
      if (!fits)
        throw decode_error("expected an integer from " + std::to_string(lim::min())
                           + " to " + std::to_string(lim::max()));
    } else if constexpr (std::is_signed_v<T>) {
      if (v.is_number_unsigned()
          && v.get<std::uint64_t>() > static_cast<std::uint64_t>(lim::max()))
        throw decode_error("expected an integer from " + std::to_string(lim::min())
                           + " to " + std::to_string(lim::max()));
    }
  }

  const json& j_;
  std::string what_;
  std::vector<std::string> seen_;
};

} // namespace banger::wire
