#include "guest/init/rootfs.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "guest/init/console.hpp"
#include "guest/init/work_disk.hpp"

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

std::string fmt_octal(unsigned mode) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04o", mode);
  return buf;
}

/// Deletes the initramfs's files (they would pin RAM forever), staying on
/// its own device so that no mounted filesystem is touched.
void remove_tree(int dirfd, dev_t dev,
                 const std::vector<std::string>& keep = {}) {
  DIR* dir = ::fdopendir(dirfd);
  if (dir == nullptr) {
    ::close(dirfd);
    return;
  }
  while (auto* ent = ::readdir(dir)) {
    std::string name = ent->d_name;
    if (name == "." || name == ".."
        || std::find(keep.begin(), keep.end(), name) != keep.end())
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

void free_initramfs(const std::vector<std::string>& keep) {
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
    remove_tree(fd, st.st_dev, keep);
}

} // namespace

void remove_contents(int dirfd) {
  struct stat st {};
  if (::fstat(dirfd, &st) != 0) {
    ::close(dirfd);
    return;
  }
  remove_tree(dirfd, st.st_dev);
}

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
  std::string root;
  while ((root = resolve_block_device(p.root)).empty()
         || ::stat(root.c_str(), &st) != 0) {
    if (steady_clock::now() > deadline)
      fatal("root device " + p.root + " did not appear within "
            + std::to_string(p.rootwait_s)
            + " s (is the disk attached? did virtio_blk load?)");
    std::this_thread::sleep_for(milliseconds(5));
  }
  ::mkdir(new_root, 0755);
  unsigned long flags = p.read_only ? MS_RDONLY : 0;
  const char* data = p.rootflags.empty() ? nullptr : p.rootflags.c_str();
  if (::mount(root.c_str(), new_root, p.rootfstype.c_str(), flags, data) != 0)
    fatal_errno("mount " + root + " (" + p.rootfstype + ", "
                    + (p.read_only ? "ro" : "rw") + ") on " + new_root,
                errno);
}

// -- images without the usual mount points -----------------------------------
//
// A container image built FROM scratch may hold nothing but a binary: no
// /dev, /proc, /sys, /run or /tmp. Container runtimes add them in a layer
// of their own; the VM's root disk is the image's (copy-on-write, but
// shared by everything the VM later writes), so banger-init does not create
// them there. Instead the new root becomes a small tmpfs ("frame") that
// holds the missing mount points, with every top-level entry of the image
// bind-mounted (directories, files) or copied (symlinks) into it: what the
// guest writes beneath them still lands on its disk, and the image stays as
// built. The costs, for such images only: new files at the top level live
// in RAM, an entry at the top level cannot be removed or renamed (it is a
// mount point), and /run and /tmp are in RAM.
// Overlayfs (a tmpfs upper over the image) was the other way: it would put
// every write in RAM and lose it at the next boot.

namespace {

constexpr const char* image_mount = "/image";
constexpr const char* frame_dirs[] = {"dev", "proc", "sys", "run", "tmp"};

bool is_real_dir(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

/// Puts the image's top-level entry `name` into the frame. False (and a
/// console line) if it could not.
bool frame_entry(const std::string& name, const struct stat& st) {
  auto from = std::string(image_mount) + "/" + name;
  auto to = std::string(new_root) + "/" + name;
  if (S_ISLNK(st.st_mode)) {
    std::vector<char> target(static_cast<std::size_t>(st.st_size) + 1);
    auto n = ::readlink(from.c_str(), target.data(), target.size());
    if (n < 0
        || ::symlink(
               std::string(target.data(), static_cast<std::size_t>(n)).c_str(),
               to.c_str())
               != 0) {
      say_errno("frame: copy the symlink /" + name, errno);
      return false;
    }
    ::lchown(to.c_str(), st.st_uid, st.st_gid);
    return true;
  }
  if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
    // A device node, FIFO or socket at the top level: not worth a mount.
    say("frame: /" + name + " is not a file, directory or symlink; left out");
    return false;
  }
  // A directory or an empty file to bind onto.
  int made = S_ISDIR(st.st_mode) ? ::mkdir(to.c_str(), 0700)
                                 : ::mknod(to.c_str(), S_IFREG | 0600, 0);
  if (made != 0 && errno != EEXIST) {
    say_errno("frame: make the mount point /" + name, errno);
    return false;
  }
  if (::mount(from.c_str(), to.c_str(), nullptr, MS_BIND | MS_REC, nullptr)
      != 0) {
    say_errno("frame: bind /" + name, errno);
    return false;
  }
  return true;
}

} // namespace

bool needs_frame(const std::string& root) {
  for (const char* dir : frame_dirs)
    if (!is_real_dir(root + "/" + dir))
      return true;
  return false;
}

void frame_root() {
  if (!needs_frame(new_root))
    return;
  struct stat top {};
  ::stat(new_root, &top);
  ::mkdir(image_mount, 0700);
  if (::mount(new_root, image_mount, nullptr, MS_MOVE, nullptr) != 0)
    fatal_errno(std::string("move the image's root to ") + image_mount, errno);
  std::string opts = "mode=" + fmt_octal(top.st_mode & 07777)
                     + ",uid=" + std::to_string(top.st_uid)
                     + ",gid=" + std::to_string(top.st_gid);
  if (::mount("tmpfs", new_root, "tmpfs", MS_NOSUID, opts.c_str()) != 0)
    fatal_errno(std::string("mount a tmpfs on ") + new_root
                    + " (the frame for an image without /dev, /proc, /sys, "
                      "/run or /tmp)",
                errno);
  std::string missing;
  for (const char* dir : frame_dirs)
    if (!is_real_dir(std::string(image_mount) + "/" + dir))
      missing += std::string(missing.empty() ? "" : ", ") + "/" + dir;
  DIR* d = ::opendir(image_mount);
  if (d == nullptr)
    fatal_errno(std::string("read ") + image_mount, errno);
  while (auto* ent = ::readdir(d)) {
    std::string name = ent->d_name;
    if (name == "." || name == "..")
      continue;
    struct stat st {};
    if (::lstat((std::string(image_mount) + "/" + name).c_str(), &st) != 0) {
      say_errno("frame: stat /" + name, errno);
      continue;
    }
    // A /dev, /run... that is not a directory (a symlink, a file) gives way
    // to the frame's own.
    bool framed = std::find_if(std::begin(frame_dirs), std::end(frame_dirs),
                               [&](const char* f) { return name == f; })
                  != std::end(frame_dirs);
    if (framed && !S_ISDIR(st.st_mode))
      continue;
    frame_entry(name, st);
  }
  ::closedir(d);
  for (const char* dir : frame_dirs) {
    auto path = std::string(new_root) + "/" + dir;
    bool tmp = std::string_view(dir) == "tmp";
    if (!is_real_dir(path) && ::mkdir(path.c_str(), tmp ? 01777 : 0755) == 0
        && tmp)
      ::chmod(path.c_str(), 01777);
  }
  // The binds keep the image's filesystem; its first mount is not needed.
  ::umount2(image_mount, MNT_DETACH);
  ::rmdir(image_mount);
  say("the image has no " + missing
      + "; its top level is bound into a tmpfs that has them (the image is not "
        "changed)");
}

void switch_root(const std::vector<std::string>& keep) {
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
  free_initramfs(keep);
  if (::chdir(new_root) != 0)
    fatal_errno(std::string("chdir ") + new_root, errno);
  if (::mount(".", "/", nullptr, MS_MOVE, nullptr) != 0)
    fatal_errno(std::string("move ") + new_root + " to /", errno);
  if (::chroot(".") != 0)
    fatal_errno("chroot into the new root", errno);
  if (::chdir("/") != 0)
    fatal_errno("chdir /", errno);
}

namespace {

bool mounted_at(const char* path) {
  struct stat st {
  }, parent{};
  std::string up = std::string(path) + "/..";
  return ::stat(path, &st) == 0 && ::stat(up.c_str(), &parent) == 0
         && st.st_dev != parent.st_dev;
}

/// Mounts `type` on `path` (a directory it creates with `mode` if missing)
/// unless something is mounted there already. False (and a console line)
/// if nothing is mounted there in the end.
bool mount_if_missing(const char* path, mode_t mode, const char* type,
                      unsigned long flags, const char* data) {
  if (!is_dir(path) && ::mkdir(path, mode) != 0 && errno != EEXIST) {
    say_errno(std::string("mkdir ") + path, errno);
    return false;
  }
  if (mounted_at(path))
    return true;
  if (::mount(type, path, type, flags, data) != 0) {
    say_errno(std::string("mount ") + type + " on " + path, errno);
    return false;
  }
  return true;
}

} // namespace

bool mount_run() {
  return mount_if_missing("/run", 0755, "tmpfs", MS_NOSUID | MS_NODEV,
                          "mode=0755");
}

void mount_devpts() {
  // gid 5 is "tty" in Debian, Alpine and busybox images alike.
  mount_if_missing("/dev/pts", 0755, "devpts", MS_NOSUID | MS_NOEXEC,
                   "gid=5,mode=0620,ptmxmode=0666");
}

void mount_container_basics() {
  mount_devpts();
  mount_if_missing("/dev/shm", 01777, "tmpfs", MS_NOSUID | MS_NODEV,
                   "mode=1777");
  mount_run();
  if (::mkdir("/run/lock", 01777) == 0)
    ::chmod("/run/lock", 01777);
  // /tmp stays on the VM's disk: a tmpfs would eat the guest's little RAM.
  if (!is_dir("/tmp") && ::mkdir("/tmp", 01777) == 0)
    ::chmod("/tmp", 01777);
  for (auto [link, target] : {std::pair{"/dev/fd", "/proc/self/fd"},
                              std::pair{"/dev/stdin", "/proc/self/fd/0"},
                              std::pair{"/dev/stdout", "/proc/self/fd/1"},
                              std::pair{"/dev/stderr", "/proc/self/fd/2"}})
    if (::symlink(target, link) != 0 && errno != EEXIST)
      say_errno(std::string("symlink ") + link, errno);
}

} // namespace banger::init
