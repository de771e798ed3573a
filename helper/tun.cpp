#include "helper/tun.hpp"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "helper/error.hpp"

namespace banger::helper {

namespace {

[[noreturn]] void fail(const std::string& what, int err) {
  throw op_error("internal", what + ": " + std::strerror(err));
}

} // namespace

/// The flags of every banger TAP: create and open must agree, or the kernel
/// refuses the attach (or silently changes the device's features).
constexpr short tap_flags = IFF_TAP | IFF_NO_PI;

void create_persistent_tap(const std::string& name, uid_t owner) {
  int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0)
    fail("cannot open /dev/net/tun to create TAP '" + name
             + "' (is the tun module loaded?)",
         errno);
  ifreq ifr{};
  ifr.ifr_flags = tap_flags;
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  const char* step = nullptr;
  if (::ioctl(fd, TUNSETIFF, &ifr) != 0)
    step = "TUNSETIFF";
  else if (::ioctl(fd, TUNSETOWNER, static_cast<unsigned long>(owner)) != 0)
    step = "TUNSETOWNER";
  else if (::ioctl(fd, TUNSETPERSIST, 1ul) != 0)
    step = "TUNSETPERSIST";
  int err = errno;
  // Without TUNSETPERSIST the device vanishes with the fd: nothing to undo.
  ::close(fd);
  if (step != nullptr)
    fail(std::string("cannot create TAP '") + name + "' (" + step + ")", err);
}

unique_fd open_tap_queue(const std::string& name) {
  unique_fd fd{::open("/dev/net/tun", O_RDWR | O_CLOEXEC)};
  if (!fd.valid())
    fail("cannot open /dev/net/tun to open TAP '" + name
             + "' (is the tun module loaded?)",
         errno);
  ifreq ifr{};
  ifr.ifr_flags = tap_flags;
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (::ioctl(fd.get(), TUNSETIFF, &ifr) != 0) {
    int err = errno;
    if (err == EBUSY)
      throw op_error("bad_state",
                     "TAP '" + name
                         + "' is already open elsewhere (a running VMM, or an "
                           "earlier helper.open_tap whose descriptor is still "
                           "open): it takes one queue; close that first");
    fail("cannot open TAP '" + name + "' (TUNSETIFF)", err);
  }
  return fd;
}

} // namespace banger::helper
