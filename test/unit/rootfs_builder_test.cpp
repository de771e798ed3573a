#include "services/rootfs_builder.hpp"
#include "test/unit/temp_dir.hpp"

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include <gtest/gtest.h>

#include "services/error.hpp"
#include "services/process.hpp"
#include "test/unit/small_tmpfs.hpp"

namespace fs = std::filesystem;
using banger::layer_compression;
using banger::layer_source;

namespace {

using banger::test::temp_dir;

// One tar entry as a test wants it; hardlink set makes it a hardlink.
struct tar_entry {
  std::string path;
  unsigned type = AE_IFREG;
  unsigned mode = 0644;
  std::int64_t uid = 0;
  std::int64_t gid = 0;
  std::string data;
  std::string symlink;
  std::string hardlink;
  unsigned major = 0;
  unsigned minor = 0;
  std::int64_t mtime = 1600000000;
  std::vector<std::pair<std::string, std::string>> xattrs;
  // Sparse: the file is `size` bytes of zeros but for `data` at `offset`.
  std::int64_t sparse_size = 0;
  std::int64_t sparse_offset = 0;
};

tar_entry file(std::string path, std::string data, unsigned mode = 0644, int uid = 0,
               int gid = 0) {
  tar_entry e;
  e.path = std::move(path);
  e.data = std::move(data);
  e.mode = mode;
  e.uid = uid;
  e.gid = gid;
  return e;
}

tar_entry dir(std::string path, unsigned mode = 0755) {
  tar_entry e;
  e.path = std::move(path);
  e.type = AE_IFDIR;
  e.mode = mode;
  return e;
}

tar_entry symlink(std::string path, std::string target) {
  tar_entry e;
  e.path = std::move(path);
  e.type = AE_IFLNK;
  e.mode = 0777;
  e.symlink = std::move(target);
  return e;
}

tar_entry hardlink(std::string path, std::string target) {
  tar_entry e;
  e.path = std::move(path);
  e.hardlink = std::move(target);
  return e;
}

tar_entry node(std::string path, unsigned type, unsigned major, unsigned minor,
               unsigned mode) {
  tar_entry e;
  e.path = std::move(path);
  e.type = type;
  e.major = major;
  e.minor = minor;
  e.mode = mode;
  return e;
}

void write_layer(const std::string& path, layer_compression c,
                 const std::vector<tar_entry>& entries) {
  auto* a = archive_write_new();
  archive_write_set_format_pax(a);
  if (c == layer_compression::gzip)
    archive_write_add_filter_gzip(a);
  else if (c == layer_compression::zstd)
    archive_write_add_filter_zstd(a);
  ASSERT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK);
  for (auto& t : entries) {
    auto* e = archive_entry_new();
    archive_entry_set_pathname(e, t.path.c_str());
    archive_entry_set_uid(e, t.uid);
    archive_entry_set_gid(e, t.gid);
    archive_entry_set_mtime(e, t.mtime, 0);
    if (!t.hardlink.empty()) {
      archive_entry_set_filetype(e, AE_IFREG);
      archive_entry_set_perm(e, t.mode);
      archive_entry_set_hardlink(e, t.hardlink.c_str());
      archive_entry_set_size(e, 0);
    } else {
      archive_entry_set_filetype(e, t.type);
      archive_entry_set_perm(e, t.mode);
      archive_entry_set_size(e, t.type == AE_IFREG ? static_cast<la_int64_t>(t.data.size()) : 0);
      if (t.sparse_size > 0) {
        archive_entry_set_size(e, t.sparse_size);
        archive_entry_sparse_add_entry(e, t.sparse_offset,
                                       static_cast<la_int64_t>(t.data.size()));
      }
      if (t.type == AE_IFLNK)
        archive_entry_set_symlink(e, t.symlink.c_str());
      archive_entry_set_rdevmajor(e, t.major);
      archive_entry_set_rdevminor(e, t.minor);
    }
    for (auto& [n, v] : t.xattrs)
      archive_entry_xattr_add_entry(e, n.c_str(), v.data(), v.size());
    ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK) << archive_error_string(a);
    if (t.sparse_size > 0) {
      // libarchive takes the whole logical file and skips the holes itself.
      std::string logical(static_cast<std::size_t>(t.sparse_size), '\0');
      logical.replace(static_cast<std::size_t>(t.sparse_offset), t.data.size(), t.data);
      archive_write_data(a, logical.data(), logical.size());
    } else if (t.type == AE_IFREG && t.hardlink.empty() && !t.data.empty()) {
      archive_write_data(a, t.data.data(), t.data.size());
    }
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
}

std::string debugfs(const std::string& img, const std::string& cmd) {
  auto r = banger::run({"debugfs", "-R", cmd, img});
  EXPECT_TRUE(r) << cmd;
  return r ? r->out : "";
}

struct stat_info {
  bool found = false;
  std::string type;
  unsigned mode = 0;
  unsigned uid = 0;
  unsigned gid = 0;
  unsigned long inode = 0;
  unsigned links = 0;
  std::string mtime_hex;
  std::string device;
  std::string text;
};

stat_info stat_of(const std::string& img, const std::string& path) {
  stat_info s;
  s.text = debugfs(img, "stat " + path);
  std::smatch m;
  if (std::regex_search(s.text, m, std::regex{R"(Inode: (\d+)\s+Type: (.+?)\s+Mode:\s+(\d+))"})) {
    s.found = true;
    s.inode = std::stoul(m[1]);
    s.type = m[2];
    s.mode = static_cast<unsigned>(std::stoul(m[3], nullptr, 8));
  }
  if (std::regex_search(s.text, m, std::regex{R"(User:\s+(\d+)\s+Group:\s+(\d+))"})) {
    s.uid = static_cast<unsigned>(std::stoul(m[1]));
    s.gid = static_cast<unsigned>(std::stoul(m[2]));
  }
  if (std::regex_search(s.text, m, std::regex{R"(Links: (\d+))"}))
    s.links = static_cast<unsigned>(std::stoul(m[1]));
  if (std::regex_search(s.text, m, std::regex{R"(mtime: 0x([0-9a-f]+))"}))
    s.mtime_hex = m[1];
  if (std::regex_search(s.text, m, std::regex{R"(Device major/minor number: (\S+))"}))
    s.device = m[1];
  return s;
}

bool fsck_clean(const std::string& img) {
  auto r = banger::run({"e2fsck", "-fn", img});
  return r && r->exit_code == 0;
}

class RootfsBuilder : public ::testing::Test {
protected:
  std::string layer(const std::string& name, const std::vector<tar_entry>& entries,
                    layer_compression c = layer_compression::none) {
    auto p = tmp_.path() + "/" + name;
    write_layer(p, c, entries);
    layers_.push_back({p, c});
    return p;
  }

  caf::expected<banger::rootfs_result> build(std::atomic<bool>* cancel = nullptr,
                                             bool with_seed = false) {
    work_ = tmp_.path() + "/work" + std::to_string(builds_++);
    fs::create_directory(work_);
    banger::rootfs_options o;
    o.work_dir = work_;
    o.output = img();
    if (with_seed)
      o.work_seed_output = seed();
    o.cancel = cancel;
    o.limits = limits_;
    return banger::build_rootfs(layers_, o);
  }

  std::string img() const { return tmp_.path() + "/rootfs.ext4"; }
  std::string seed() const { return tmp_.path() + "/work-seed.ext4"; }

  void expect_no_output() {
    EXPECT_FALSE(fs::exists(img()));
    EXPECT_FALSE(fs::exists(img() + ".tmp"));
  }

  temp_dir tmp_;
  std::vector<layer_source> layers_;
  banger::data_limits limits_;
  std::string work_;
  int builds_ = 0;
};

constexpr const char* mtime_1600000000 = "5f5e1000";

TEST_F(RootfsBuilder, OwnersModesAndMtimeKept) {
  layer("l1.tar", {dir("usr"), dir("usr/bin"), file("usr/bin/su", "#!su\n", 04755),
                   dir("home/u", 0750), file("home/u/notes", "mine\n", 0640, 1000, 1000),
                   dir("secret", 0700), file("odd dir/a \"q\" b", "odd\n", 0600, 7, 8)});
  auto r = build();
  ASSERT_TRUE(r) << banger::error_message(r.error());
  EXPECT_EQ(r->files, 9u); // usr, bin, su, home, u, notes, secret, odd dir, its file
  EXPECT_EQ(r->size_bytes, fs::file_size(img()));
  EXPECT_TRUE(fsck_clean(img()));

  auto su = stat_of(img(), "/usr/bin/su");
  EXPECT_EQ(su.type, "regular");
  EXPECT_EQ(su.mode, 04755u);
  EXPECT_EQ(su.uid, 0u);
  EXPECT_EQ(su.mtime_hex, mtime_1600000000);
  EXPECT_EQ(debugfs(img(), "cat /usr/bin/su"), "#!su\n");

  auto notes = stat_of(img(), "/home/u/notes");
  EXPECT_EQ(notes.mode, 0640u);
  EXPECT_EQ(notes.uid, 1000u);
  EXPECT_EQ(notes.gid, 1000u);
  EXPECT_EQ(stat_of(img(), "/home/u").mode, 0750u);

  auto secret = stat_of(img(), "/secret");
  EXPECT_EQ(secret.type, "directory");
  EXPECT_EQ(secret.mode, 0700u);
  EXPECT_EQ(secret.mtime_hex, mtime_1600000000);

  auto root = stat_of(img(), "/");
  EXPECT_EQ(root.mode, 0755u);
  EXPECT_EQ(root.uid, 0u);

  auto odd = stat_of(img(), R"("/odd dir/a ""q"" b")");
  ASSERT_TRUE(odd.found) << odd.text;
  EXPECT_EQ(odd.uid, 7u);
  EXPECT_EQ(odd.gid, 8u);
  EXPECT_EQ(odd.mode, 0600u);
}

TEST_F(RootfsBuilder, WorkSeedHoldsTheImagesRootHome) {
  layer("l1.tar", {dir("root", 0700), file("root/.profile", "PS1='# '\n", 0600),
                   dir("root/work", 0750), file("root/work/notes", "n\n", 0640, 1000, 1001),
                   symlink("root/link", "/etc/passwd"), file("bin/busybox", "bb", 0755),
                   hardlink("root/bb", "bin/busybox"),
                   file("etc/passwd", "root:x:0:0::/root:/bin/sh\n")});
  // A later layer replaces a file under /root: the seed has the new one.
  layer("l2.tar", {file("root/.profile", "PS1='$ '\n", 0644)});
  auto r = build(nullptr, true);
  ASSERT_TRUE(r) << banger::error_message(r.error());
  ASSERT_TRUE(fs::exists(seed()));
  EXPECT_EQ(r->work_seed_bytes, fs::file_size(seed()));
  EXPECT_GE(r->work_seed_bytes, banger::min_work_seed_bytes);
  EXPECT_TRUE(fsck_clean(seed()));
  EXPECT_TRUE(fsck_clean(img()));

  // The seed's top is /root itself: its mode and owner.
  auto top = stat_of(seed(), "/");
  EXPECT_EQ(top.mode, 0700u);
  EXPECT_EQ(top.uid, 0u);
  EXPECT_EQ(debugfs(seed(), "cat /.profile"), "PS1='$ '\n");
  EXPECT_EQ(stat_of(seed(), "/.profile").mode, 0644u);
  auto notes = stat_of(seed(), "/work/notes");
  EXPECT_EQ(notes.uid, 1000u);
  EXPECT_EQ(notes.gid, 1001u);
  EXPECT_EQ(notes.mode, 0640u);
  EXPECT_EQ(stat_of(seed(), "/work").mode, 0750u);
  EXPECT_NE(stat_of(seed(), "/link").text.find(R"(Fast link dest: "/etc/passwd")"),
            std::string::npos);
  // Hardlinked with a file outside /root: the seed has its own copy.
  EXPECT_EQ(debugfs(seed(), "cat /bb"), "bb");
  EXPECT_EQ(stat_of(seed(), "/bb").links, 1u);
  EXPECT_FALSE(stat_of(seed(), "/etc").found);
  EXPECT_NE(debugfs(seed(), "stats").find("Filesystem volume name:   banger-work"),
            std::string::npos);

  // The root filesystem still has all of it, hardlink included.
  EXPECT_EQ(debugfs(img(), "cat /root/.profile"), "PS1='$ '\n");
  EXPECT_EQ(debugfs(img(), "cat /root/bb"), "bb");
  EXPECT_EQ(stat_of(img(), "/root/bb").inode, stat_of(img(), "/bin/busybox").inode);
  EXPECT_EQ(stat_of(img(), "/root/bb").links, 2u);
  EXPECT_EQ(r->files, 10u);
}

TEST_F(RootfsBuilder, WorkSeedOfAnImageWithoutRootIsEmpty) {
  layer("l1.tar", {file("bin/app", "app", 0755), symlink("root", "/home/x")});
  auto r = build(nullptr, true);
  ASSERT_TRUE(r) << banger::error_message(r.error());
  EXPECT_TRUE(fsck_clean(seed()));
  auto top = stat_of(seed(), "/");
  EXPECT_EQ(top.mode, 0700u);
  auto ls = debugfs(seed(), "ls -p /");
  EXPECT_NE(ls.find("lost+found"), std::string::npos);
  EXPECT_EQ(ls.find("app"), std::string::npos);
}

TEST_F(RootfsBuilder, FailedRootLeavesNoWorkSeed) {
  // The seed is written first; the root filesystem then fails (too small).
  layer("l1.tar", {file("root/.profile", "x"), file("big", std::string(3 << 20, 'b'))});
  work_ = tmp_.path() + "/small";
  fs::create_directory(work_);
  banger::rootfs_options o;
  o.work_dir = work_;
  o.output = img();
  o.work_seed_output = seed();
  o.size_bytes = 2 << 20;
  auto r = banger::build_rootfs(layers_, o);
  ASSERT_FALSE(r);
  EXPECT_NE(banger::error_message(r.error()).find("mke2fs"), std::string::npos);
  EXPECT_TRUE(fs::exists(work_ + "/seed")); // it did get that far
  EXPECT_FALSE(fs::exists(seed()));
  EXPECT_FALSE(fs::exists(seed() + ".tmp"));
  expect_no_output();
}

TEST_F(RootfsBuilder, SymlinksAndHardlinks) {
  layer("l1.tar", {file("bin/busybox", "bb", 0755), symlink("bin/sh", "busybox"),
                   symlink("etc/mtab", "/proc/self/mounts"),
                   symlink("lib", "usr/lib"), hardlink("bin/ls", "bin/busybox"),
                   file("/./opt//x/../y", "y")});
  auto r = build();
  ASSERT_TRUE(r) << banger::error_message(r.error());
  EXPECT_TRUE(fsck_clean(img()));
  auto sh = stat_of(img(), "/bin/sh");
  EXPECT_EQ(sh.type, "symlink");
  EXPECT_NE(sh.text.find(R"(Fast link dest: "busybox")"), std::string::npos) << sh.text;
  auto mtab = stat_of(img(), "/etc/mtab");
  EXPECT_NE(mtab.text.find(R"(Fast link dest: "/proc/self/mounts")"), std::string::npos);
  auto bb = stat_of(img(), "/bin/busybox");
  auto ls = stat_of(img(), "/bin/ls");
  EXPECT_EQ(bb.inode, ls.inode);
  EXPECT_EQ(bb.links, 2u);
  EXPECT_EQ(ls.mode, 0755u);
  EXPECT_EQ(debugfs(img(), "cat /opt/y"), "y"); // normalized, inside the image
  EXPECT_FALSE(stat_of(img(), "/opt/x").found);
}

TEST_F(RootfsBuilder, DeviceNodesAndFifos) {
  layer("l1.tar", {dir("dev"), node("dev/null", AE_IFCHR, 1, 3, 0666),
                   node("dev/sda", AE_IFBLK, 8, 0, 0660), hardlink("dev/null2", "dev/null"),
                   node("run/my fifo", AE_IFIFO, 0, 0, 0620)});
  auto r = build();
  ASSERT_TRUE(r) << banger::error_message(r.error());
  EXPECT_TRUE(fsck_clean(img()));
  auto null = stat_of(img(), "/dev/null");
  EXPECT_EQ(null.type, "character special");
  EXPECT_EQ(null.mode, 0666u);
  EXPECT_EQ(null.device, "01:03");
  EXPECT_EQ(null.links, 2u);
  EXPECT_EQ(stat_of(img(), "/dev/null2").inode, null.inode);
  auto sda = stat_of(img(), "/dev/sda");
  EXPECT_EQ(sda.type, "block special");
  EXPECT_EQ(sda.device, "08:00");
  EXPECT_EQ(sda.mode, 0660u);
  auto fifo = stat_of(img(), R"("/run/my fifo")");
  EXPECT_EQ(fifo.type, "FIFO");
  EXPECT_EQ(fifo.mode, 0620u);
}

TEST_F(RootfsBuilder, XattrsKept) {
  auto f = file("bin/ping", "ping", 0755);
  f.xattrs = {{"user.test", "hello"},
              {"security.capability", std::string("\x01\x00\x00\x02\x00\x20\x00\x00"
                                                  "\x00\x00\x00\x00\x00\x00\x00\x00"
                                                  "\x00\x00\x00\x00",
                                                  20)}};
  layer("l1.tar", {f});
  auto r = build();
  ASSERT_TRUE(r) << banger::error_message(r.error());
  EXPECT_TRUE(fsck_clean(img()));
  auto list = debugfs(img(), "ea_list /bin/ping");
  EXPECT_NE(list.find(R"(user.test (5) = "hello")"), std::string::npos) << list;
  EXPECT_NE(list.find("security.capability (20) = 01 00 00 02 00 20 00 00"), std::string::npos)
    << list;
}

TEST_F(RootfsBuilder, WhiteoutsOpaqueDirsAndReplacements) {
  layer("l1.tar", {file("etc/a", "a"), file("etc/b", "b"), file("opq/x", "x"),
                   dir("opq/sub"), file("opq/sub/deep", "d"), file("thing", "file")});
  layer("l2.tar", {file("etc/.wh.a", ""), file("opq/new", "new"), dir("opq"),
                   file("opq/.wh..wh..opq", ""), dir("thing"), file("thing/inner", "in")});
  auto r = build();
  ASSERT_TRUE(r) << banger::error_message(r.error());
  EXPECT_TRUE(fsck_clean(img()));
  EXPECT_FALSE(stat_of(img(), "/etc/a").found);
  EXPECT_EQ(debugfs(img(), "cat /etc/b"), "b");
  EXPECT_FALSE(stat_of(img(), "/opq/x").found);
  EXPECT_FALSE(stat_of(img(), "/opq/sub").found);
  EXPECT_EQ(debugfs(img(), "cat /opq/new"), "new");
  EXPECT_EQ(stat_of(img(), "/thing").type, "directory");
  EXPECT_EQ(debugfs(img(), "cat /thing/inner"), "in");
  auto ls = debugfs(img(), "ls /etc");
  EXPECT_EQ(ls.find(".wh."), std::string::npos) << ls;
}

// Entries under a symlink land where the guest would find them (as with
// containerd's fs.RootPath), and never outside the image.
TEST_F(RootfsBuilder, EntriesUnderSymlinksStayInside) {
  layer("l1.tar", {dir("usr/lib"), symlink("lib", "usr/lib"), symlink("up", "../../.."),
                   symlink("abs", "/srv/data")});
  layer("l2.tar", {file("lib/libx.so", "x"), file("up/escaped", "e"), file("abs/f", "f"),
                   hardlink("lib/liby.so", "lib/libx.so"), file("usr/lib/gone", "g"),
                   file("lib/.wh.gone", "")});
  auto r = build();
  ASSERT_TRUE(r) << banger::error_message(r.error());
  EXPECT_TRUE(fsck_clean(img()));
  EXPECT_EQ(stat_of(img(), "/lib").type, "symlink");
  EXPECT_EQ(debugfs(img(), "cat /usr/lib/libx.so"), "x");
  EXPECT_EQ(stat_of(img(), "/usr/lib/liby.so").inode, stat_of(img(), "/usr/lib/libx.so").inode);
  EXPECT_FALSE(stat_of(img(), "/usr/lib/gone").found);
  EXPECT_EQ(debugfs(img(), "cat /escaped"), "e");
  EXPECT_EQ(debugfs(img(), "cat /srv/data/f"), "f");
}

// debugfs exits 0 when a command fails: its complaints on stderr must fail
// the build. An xattr larger than a block does not fit (no ea_inode).
TEST_F(RootfsBuilder, DebugfsFailuresAreErrors) {
  auto f = file("big-xattr", "x");
  f.xattrs = {{"user.big", std::string(8000, 'v')}};
  layer("l1.tar", {f});
  auto r = build();
  ASSERT_FALSE(r);
  EXPECT_EQ(banger::error_code(r.error()), banger::ec::unavailable);
  EXPECT_NE(banger::error_message(r.error()).find("debugfs could not set"), std::string::npos)
    << banger::error_message(r.error());
  expect_no_output();
}

TEST_F(RootfsBuilder, GzipAndZstdLayers) {
  layer("l1.tar.gz", {file("from-gzip", "gz")}, layer_compression::gzip);
  layer("l2.tar.zst", {file("from-zstd", "zst"), file("big", std::string(300000, 'z'))},
        layer_compression::zstd);
  auto r = build();
  ASSERT_TRUE(r) << banger::error_message(r.error());
  EXPECT_TRUE(fsck_clean(img()));
  EXPECT_EQ(debugfs(img(), "cat /from-gzip"), "gz");
  EXPECT_EQ(debugfs(img(), "cat /from-zstd"), "zst");
  EXPECT_EQ(debugfs(img(), "cat /big"), std::string(300000, 'z'));
}

struct refusal {
  std::vector<tar_entry> entries;
  std::string named;
};

class RootfsBuilderRefuses : public RootfsBuilder,
                             public ::testing::WithParamInterface<int> {};

TEST_P(RootfsBuilderRefuses, UnsafeEntries) {
  std::vector<refusal> cases = {
    {{file("../etc/passwd", "x")}, "../etc/passwd"},
    {{file("/../../x", "x")}, "/../../x"},
    {{file("a", "x"), hardlink("b", "../../x")}, "'b'"},
    {{file("a", "x"), hardlink("b", "missing")}, "missing"},
    {{symlink("loop", "loop"), file("loop/x", "x")}, "loop/x"},
    {{symlink("a", "b"), symlink("b", "a"), file("a/x", "x")}, "a/x"},
  };
  auto& c = cases.at(static_cast<std::size_t>(GetParam()));
  layer("bad.tar", c.entries);
  auto r = build();
  ASSERT_FALSE(r);
  EXPECT_EQ(banger::error_code(r.error()), banger::ec::invalid_argument);
  auto msg = banger::error_message(r.error());
  EXPECT_NE(msg.find(c.named), std::string::npos) << msg;
  EXPECT_NE(msg.find("bad.tar"), std::string::npos) << msg;
  expect_no_output();
}

INSTANTIATE_TEST_SUITE_P(Cases, RootfsBuilderRefuses, ::testing::Range(0, 6));

TEST_F(RootfsBuilder, CancelLeavesNothing) {
  layer("l1.tar", {file("a", "x")});
  std::atomic<bool> cancel{true};
  auto r = build(&cancel);
  ASSERT_FALSE(r);
  EXPECT_EQ(banger::error_code(r.error()), banger::ec::cancelled);
  expect_no_output();
}

TEST_F(RootfsBuilder, StagingHasNoPrivilegedFiles) {
  layer("l1.tar", {file("usr/bin/su", "su", 06755), file("etc/shadow", "s", 0640, 0, 42),
                   node("dev/null", AE_IFCHR, 1, 3, 0666), node("fifo", AE_IFIFO, 0, 0, 0666),
                   dir("tmp", 01777)});
  auto r = build();
  ASSERT_TRUE(r) << banger::error_message(r.error());
  EXPECT_EQ(stat_of(img(), "/usr/bin/su").mode, 06755u);
  EXPECT_EQ(stat_of(img(), "/tmp").mode, 01777u);
  std::size_t seen = 0;
  for (auto& e : fs::recursive_directory_iterator(work_)) {
    struct stat st{};
    ASSERT_EQ(::lstat(e.path().c_str(), &st), 0);
    ++seen;
    EXPECT_EQ(st.st_uid, ::geteuid()) << e.path();
    EXPECT_EQ(st.st_mode & (S_ISUID | S_ISGID | S_ISVTX), 0u) << e.path();
    EXPECT_TRUE(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) || S_ISLNK(st.st_mode)) << e.path();
    EXPECT_EQ(st.st_mode & 0077, 0u) << e.path();
  }
  EXPECT_GT(seen, 3u);
}

// A layer arrives through a pipe: the flag set half-way through stops the
// build at the next entry.
TEST_F(RootfsBuilder, CancelWhileReadingLeavesNothing) {
  std::vector<tar_entry> many;
  for (int i = 0; i < 200; ++i)
    many.push_back(file("f" + std::to_string(i), std::string(1024, 'x')));
  auto full = tmp_.path() + "/full.tar";
  write_layer(full, layer_compression::none, many);
  std::string bytes;
  {
    std::ifstream in(full, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto pipe = tmp_.path() + "/pipe.tar";
  ASSERT_EQ(::mkfifo(pipe.c_str(), 0600), 0);
  layers_.push_back({pipe, layer_compression::none});
  std::atomic<bool> cancel{false};
  std::thread writer([&] {
    std::ofstream out(pipe, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
    out.flush();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    cancel = true;
    out.write(bytes.data() + bytes.size() / 2,
              static_cast<std::streamsize>(bytes.size() - bytes.size() / 2));
  });
  auto r = build(&cancel);
  writer.join();
  ASSERT_FALSE(r);
  EXPECT_EQ(banger::error_code(r.error()), banger::ec::cancelled);
  expect_no_output();
}

TEST_F(RootfsBuilder, SparseFilesKeepTheirSize) {
  auto f = file("var/log/lastlog", std::string(4096, 'L'));
  f.sparse_size = 8 << 20;
  f.sparse_offset = 1 << 20;
  auto tar = layer("l1.tar", {f});
  EXPECT_LT(fs::file_size(tar), 1u << 20); // stored sparse, holes left out
  auto r = build();
  ASSERT_TRUE(r) << banger::error_message(r.error());
  EXPECT_TRUE(fsck_clean(img()));
  auto content = debugfs(img(), "cat /var/log/lastlog");
  ASSERT_EQ(content.size(), 8u << 20);
  EXPECT_EQ(content.substr(1 << 20, 4096), std::string(4096, 'L'));
  EXPECT_EQ(content.substr(0, 4096), std::string(4096, '\0'));
  EXPECT_EQ(content.back(), '\0');
}

// mke2fs -d copies the staged files' xattrs: a default ACL on the work
// directory (as `setfacl -d -m u:65534:r` makes) must not end up in the image.
TEST_F(RootfsBuilder, HostAclsDoNotReachTheImage) {
  layer("l1.tar", {dir("etc"), file("etc/hostname", "vm\n"), symlink("l", "etc")});
  work_ = tmp_.path() + "/acl";
  fs::create_directory(work_);
  std::string acl;
  auto put = [&](std::uint32_t v, int bytes) {
    for (int i = 0; i < bytes; ++i)
      acl += static_cast<char>((v >> (8 * i)) & 0xff);
  };
  put(2, 4); // version
  for (auto [tag, perm, id] : {std::tuple{0x01u, 7u, ~0u}, {0x02u, 4u, 65534u},
                               {0x04u, 5u, ~0u}, {0x10u, 5u, ~0u}, {0x20u, 0u, ~0u}}) {
    put(tag, 2);
    put(perm, 2);
    put(id, 4);
  }
  if (::setxattr(work_.c_str(), "system.posix_acl_default", acl.data(), acl.size(), 0) != 0)
    GTEST_SKIP() << "no POSIX ACLs here";
  banger::rootfs_options o;
  o.work_dir = work_;
  o.output = img();
  auto r = banger::build_rootfs(layers_, o);
  ASSERT_TRUE(r) << banger::error_message(r.error());
  EXPECT_TRUE(fsck_clean(img()));
  char names[256];
  auto n = ::listxattr((work_ + "/root/etc/hostname").c_str(), names, sizeof names);
  ASSERT_GT(n, 0) << "the staged file got no ACL: the test proves nothing";
  for (auto path : {"/", "/etc", "/etc/hostname", "/l"}) {
    auto list = debugfs(img(), std::string{"ea_list "} + path);
    EXPECT_EQ(list.find("posix_acl"), std::string::npos) << path << ": " << list;
  }
  EXPECT_EQ(stat_of(img(), "/etc/hostname").mode, 0644u);
}

TEST_F(RootfsBuilder, AutomaticSizeLeavesRoom) {
  layer("l1.tar", {file("big", std::string(3 << 20, 'b'))});
  auto r = build();
  ASSERT_TRUE(r) << banger::error_message(r.error());
  EXPECT_EQ(r->size_bytes % (1 << 20), 0u);
  EXPECT_GE(r->size_bytes, (64u << 20) + (3u << 20));
  EXPECT_LE(r->size_bytes, 80u << 20);
}

TEST_F(RootfsBuilder, TooSmallSizeFailsCleanly) {
  layer("l1.tar", {file("big", std::string(3 << 20, 'b'))});
  work_ = tmp_.path() + "/small";
  fs::create_directory(work_);
  banger::rootfs_options o;
  o.work_dir = work_;
  o.output = img();
  o.size_bytes = 2 << 20;
  auto r = banger::build_rootfs(layers_, o);
  ASSERT_FALSE(r);
  EXPECT_EQ(banger::error_code(r.error()), banger::ec::unavailable);
  EXPECT_NE(banger::error_message(r.error()).find("mke2fs"), std::string::npos);
  expect_no_output();
}

// Refused with ec `code`, a message holding every one of `parts` (and not
// a 130 KB name), and no image, no blob left in the work directory.
#define EXPECT_REFUSED(r, code, ...)                                                   \
  do {                                                                                 \
    ASSERT_FALSE(r) << "accepted";                                                     \
    auto msg_ = banger::error_message((r).error());                                    \
    EXPECT_EQ(banger::error_code((r).error()), code) << msg_;                          \
    for (const char* part_ : {__VA_ARGS__})                                            \
      EXPECT_NE(msg_.find(part_), std::string::npos) << part_ << " not in: " << msg_;  \
    EXPECT_LT(msg_.size(), 1500u) << "the message repeats a huge name";                \
    expect_no_output();                                                                \
  } while (false)

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i)
    out += s;
  return out;
}

TEST_F(RootfsBuilder, A130KbPathIsRefusedNamingTheLayer) {
  layer("long.tar", {dir("etc"), file(repeat("a/", 65000) + "f", "deep")});
  layers_.back().digest = "sha256:" + std::string(64, 'd');
  auto r = build();
  EXPECT_REFUSED(r, banger::ec::invalid_argument, "layer 1 (sha256:dddd",
                 "longer than the limit of 4096");
}

TEST_F(RootfsBuilder, DeepTreesAreRefused) {
  layer("deep.tar", {file(repeat("d/", 300) + "f", "deep")});
  auto r = build();
  EXPECT_REFUSED(r, banger::ec::invalid_argument, "deeper than 256 directories");
}

TEST_F(RootfsBuilder, DeepTreesThroughSymlinksAreRefused) {
  // Each name is short; the symlink makes the real depth 200 + 100.
  layer("deep.tar", {symlink("x", repeat("a/", 199) + "a"),
                     file("x/" + repeat("b/", 100) + "f", "deep")});
  auto r = build();
  EXPECT_REFUSED(r, banger::ec::invalid_argument, "deeper than 256 directories",
                 "through symlinks");
}

TEST_F(RootfsBuilder, EntryFloodsAreRefused) {
  limits_.max_entries = 50;
  std::vector<tar_entry> many;
  for (int i = 0; i < 30; ++i)
    many.push_back(file("f" + std::to_string(i), ""));
  layer("l1.tar", many);
  layer("l2.tar", many); // 60 over both layers
  auto r = build();
  EXPECT_REFUSED(r, banger::ec::invalid_argument, "layer 2", "more than 50 entries");
}

TEST_F(RootfsBuilder, GzipAndZstdBombsAreRefusedBeforeWriting) {
  for (auto c : {layer_compression::gzip, layer_compression::zstd}) {
    layers_.clear();
    limits_.max_bytes = 16 << 20;
    // 64 MiB of zeros compress to a few KB.
    layer("bomb.tar", {file("ok", "small"), file("zeros", std::string(64 << 20, '\0'))}, c);
    EXPECT_LT(fs::file_size(layers_.back().path), 1u << 20);
    auto r = build();
    EXPECT_REFUSED(r, banger::ec::invalid_argument, "expands to more than 16777216 bytes",
                   "zeros");
    // Refused from the header: the zeros never reached the disk.
    std::uint64_t written = 0;
    for (auto& e : fs::recursive_directory_iterator(work_))
      if (e.is_regular_file())
        written += e.file_size();
    EXPECT_LT(written, 1u << 20);
  }
}

TEST_F(RootfsBuilder, ContentLargerThanTheFreeSpaceIsRefusedBeforeWriting) {
  layer("big.tar", {file("big", std::string(6 << 20, 'b'))}, layer_compression::zstd);
  auto mnt = tmp_.path() + "/mnt";
  fs::create_directories(mnt);
  auto r = banger::test::in_small_tmpfs(mnt, "8m", [&] {
    banger::rootfs_options o;
    o.work_dir = mnt + "/work";
    fs::create_directories(o.work_dir);
    o.output = mnt + "/rootfs.ext4";
    o.limits.free_margin = 1 << 20;
    auto got = banger::build_rootfs(layers_, o);
    if (got)
      return std::string{"built"};
    return std::to_string(static_cast<int>(banger::error_code(got.error()))) + "|"
           + banger::error_message(got.error());
  });
  if (!r.skipped.empty())
    GTEST_SKIP() << r.skipped;
  EXPECT_EQ(r.text.rfind(std::to_string(static_cast<int>(banger::ec::unavailable)) + "|", 0),
            0u)
    << r.text;
  EXPECT_NE(r.text.find("has room for"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("free some space"), std::string::npos) << r.text;
}

// The daemon runs as an ordinary user: as root, run every case above again
// as nobody (a second run of this binary); as non-root they already ran so.
// (The free-space case mounts a tmpfs, which only root can.)
TEST_F(RootfsBuilder, WorksUnprivileged) {
  if (::geteuid() != 0)
    GTEST_SKIP() << "already unprivileged";
  auto self = fs::read_symlink("/proc/self/exe").string();
  ASSERT_EQ(::chown(tmp_.path().c_str(), 65534, 65534), 0);
  auto r = banger::run({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", self,
                        "--gtest_filter=*RootfsBuilder*:-RootfsBuilder.WorksUnprivileged:"
                        "RootfsBuilder.ContentLargerThanTheFreeSpaceIsRefusedBeforeWriting"},
                       {std::chrono::minutes(5), "", "", {"TMPDIR=" + tmp_.path()}});
  if (!r)
    GTEST_SKIP() << "no setpriv: " << banger::error_message(r.error());
  if (r->exit_code != 0 && r->out.find("Permission denied") != std::string::npos)
    GTEST_SKIP() << "nobody cannot run this binary here: " << r->out;
  EXPECT_EQ(r->exit_code, 0) << r->out << r->err;
  EXPECT_NE(r->out.find("[  PASSED  ] "), std::string::npos) << r->out;
  EXPECT_EQ(r->out.find("FAILED"), std::string::npos) << r->out;
  EXPECT_EQ(r->out.find("SKIPPED"), std::string::npos) << r->out;
}

} // namespace
