#include "guest/init/rootfs.hpp"

#include <cerrno>
#include <chrono>
#include <string>
#include <thread>

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "guest/init/console.hpp"

namespace banger::init {

namespace {

constexpr const char* new_root = "/newroot";

void mount_or_die(const char* source, const char* target, const char* type,
                  unsigned long flags, const char* data = nullptr) {
  ::mkdir(target, 0755);
  if (::mount(source, target, type, flags, data) != 0 && errno != EBUSY)
    fatal_errno(std::string("mount ") + type + " on " + target, errno);
}

bool is_dir(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

/// Deletes the initramfs's files (they would pin RAM forever), staying on
/// its own device so that no mounted filesystem is touched.
void remove_tree(int dirfd, dev_t dev) {
  DIR* dir = ::fdopendir(dirfd);
  if (dir == nullptr) {
    ::close(dirfd);
    return;
  }
  while (auto* ent = ::readdir(dir)) {
    std::string name = ent->d_name;
    if (name == "." || name == "..")
      continue;
    struct stat st {};
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0
        || st.st_dev != dev)
      continue;
    if (S_ISDIR(st.st_mode)) {
      int sub = ::openat(dirfd, name.c_str(),
                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub >= 0)
        remove_tree(sub, dev);
      ::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR);
    } else {
      ::unlinkat(dirfd, name.c_str(), 0);
    }
  }
  ::closedir(dir);
}

void free_initramfs() {
  struct statfs fs {};
  // Only ever on the initramfs: never delete anything on a real disk.
  if (::statfs("/", &fs) != 0
      || (fs.f_type != RAMFS_MAGIC && fs.f_type != TMPFS_MAGIC))
    return;
  struct stat st {};
  if (::stat("/", &st) != 0)
    return;
  int fd = ::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0)
    remove_tree(fd, st.st_dev);
}

} // namespace

void mount_early() {
  mount_or_die("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
  // First, so that every later failure reaches the console.
  attach_console();
  mount_or_die("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC);
  mount_or_die("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC);
}

void mount_root(const boot_params& p) {
  using namespace std::chrono;
  if (p.root.empty())
    fatal("no root= on the kernel command line (e.g. root=/dev/vda)");
  // The disk shows up once virtio_mmio and virtio_blk have probed it, which
  // happens asynchronously after their modules load.
  auto deadline = steady_clock::now() + seconds(p.rootwait_s);
  struct stat st {};
  while (::stat(p.root.c_str(), &st) != 0) {
    if (steady_clock::now() > deadline)
      fatal("root device " + p.root + " did not appear within "
            + std::to_string(p.rootwait_s)
            + " s (is the disk attached? did virtio_blk load?)");
    std::this_thread::sleep_for(milliseconds(5));
  }
  ::mkdir(new_root, 0755);
  unsigned long flags = p.read_only ? MS_RDONLY : 0;
  const char* data = p.rootflags.empty() ? nullptr : p.rootflags.c_str();
  if (::mount(p.root.c_str(), new_root, p.rootfstype.c_str(), flags, data) != 0)
    fatal_errno("mount " + p.root + " (" + p.rootfstype + ", "
                  + (p.read_only ? "ro" : "rw") + ") on " + new_root,
                errno);
}

void switch_root() {
  for (const char* dir : {"/dev", "/proc", "/sys"}) {
    std::string target = std::string(new_root) + dir;
    // Never create directories in the image: it must stay untouched.
    if (is_dir(target)) {
      if (::mount(dir, target.c_str(), nullptr, MS_MOVE, nullptr) != 0)
        say_errno(std::string("move ") + dir + " to " + target, errno);
    } else {
      say(std::string("the image has no ") + dir + "; not mounting it");
      ::umount2(dir, MNT_DETACH);
    }
  }
  free_initramfs();
  if (::chdir(new_root) != 0)
    fatal_errno(std::string("chdir ") + new_root, errno);
  if (::mount(".", "/", nullptr, MS_MOVE, nullptr) != 0)
    fatal_errno(std::string("move ") + new_root + " to /", errno);
  if (::chroot(".") != 0)
    fatal_errno("chroot into the new root", errno);
  if (::chdir("/") != 0)
    fatal_errno("chdir /", errno);
}

} // namespace banger::init
