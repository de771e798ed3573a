#include "test/helper/helper_client.hpp"

#include <stdexcept>

#include <unistd.h>

namespace banger::test {

helper_client::helper_client(const std::string& socket)
    : fd_(wire::connect_unix(socket)) {}

helper_client::~helper_client() {
  if (fd_ >= 0)
    ::close(fd_);
}

wire::envelope helper_client::call(const std::string& type,
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

void helper_client::send_raw(const std::string& bytes) {
  if (!wire::write_all(fd_, bytes))
    throw std::runtime_error("cannot write to banger-helper");
}

std::optional<wire::envelope> helper_client::read() {
  return wire::read_envelope(fd_, reader_);
}

} // namespace banger::test
