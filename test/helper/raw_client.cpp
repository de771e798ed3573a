#include "test/helper/raw_client.hpp"

#include <cerrno>
#include <stdexcept>
#include <system_error>

namespace banger::test {

raw_client::raw_client(const std::string& socket)
    : fd_(wire::connect_unix(socket)) {}

wire::envelope raw_client::call(const std::string& type,
                                const wire::json& body) {
  wire::envelope req;
  req.id = next_id_++;
  req.type = type;
  req.body = body;
  send_raw(wire::encode_frame(req));
  auto reply = read();
  if (!reply)
    throw std::runtime_error("banger-helper closed the connection on " + type);
  if (reply->id != req.id)
    throw std::runtime_error("reply id " + std::to_string(reply->id)
                             + " does not match request id "
                             + std::to_string(req.id));
  return *reply;
}

void raw_client::send_raw(const std::string& bytes) {
  if (!wire::send_all(fd_.get(), bytes))
    throw std::runtime_error("cannot write to banger-helper");
}

std::optional<wire::envelope> raw_client::read() {
  for (;;) {
    if (auto payload = reader_.next())
      return wire::parse_envelope(*payload);
    char buf[65536];
    std::vector<int> got;
    auto n = wire::recv_with_fds(fd_.get(), buf, sizeof(buf), got);
    for (int f : got)
      fds_.emplace_back(f);
    if (n < 0)
      throw std::system_error(errno, std::generic_category(), "recvmsg");
    if (n == 0) {
      if (reader_.buffered() == 0)
        return std::nullopt;
      throw wire::decode_error("connection closed in the middle of a frame");
    }
    reader_.feed(buf, static_cast<std::size_t>(n));
  }
}

} // namespace banger::test
