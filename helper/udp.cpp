#include "helper/udp.hpp"

#include <cerrno>
#include <cstring>
#include <string>

#include <netinet/in.h>
#include <sys/socket.h>

#include "helper/error.hpp"

namespace banger::helper {

unique_fd bind_udp(ipv4 addr, std::uint16_t port) {
  auto where = to_string(addr) + ":" + std::to_string(port);
  unique_fd fd{::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
  if (!fd.valid())
    throw op_error("internal", "cannot create a UDP socket for " + where + ": "
                                   + std::strerror(errno));
  int one = 1;
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
    throw op_error("internal", "cannot set SO_REUSEADDR on the socket for "
                                   + where + ": " + std::strerror(errno));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(addr.value);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    int err = errno;
    if (err == EADDRINUSE)
      throw op_error("already_exists",
                     "cannot bind UDP " + where + ": " + std::strerror(err)
                         + "; another program listens there: stop it or "
                           "configure another DNS address or port");
    throw op_error("internal",
                   "cannot bind UDP " + where + ": " + std::strerror(err));
  }
  return fd;
}

} // namespace banger::helper
