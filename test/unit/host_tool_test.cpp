// Host tools on guest-written files (services/host_tool.hpp, image_build):
// never root, reached through descriptors, limited, the files given back;
// qemu-img's formats and backing file pinned by banger rather than read from
// a header a compromised QEMU could have rewritten.

#include "services/host_tool.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "services/error.hpp"
#include "services/image_build.hpp"
#include "services/process.hpp"
#include "test/unit/temp_dir.hpp"

namespace banger {
namespace {

namespace fs = std::filesystem;
using banger::test::temp_dir;

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct stat lstat_of(const std::string& path) {
  struct stat st {};
  ::lstat(path.c_str(), &st);
  return st;
}

TEST(HostTool, RunsUnprivilegedOnTheFileOnlyAndGivesItBack) {
  temp_dir tmp;
  // A directory the tool's id cannot enter: it reaches the file by its
  // descriptor only.
  auto dir = tmp.path() + "/private";
  fs::create_directories(dir);
  ::chmod(dir.c_str(), 0700);
  auto disk = dir + "/work.ext4";
  std::ofstream(disk) << "disk\n";
  ::chmod(disk.c_str(), 0640);
  guest_file_tool t;
  t.argv = {"sh", "-c", "id -u; cat \"$1\"; echo more >> \"$1\"", "sh", "{0}"};
  t.files = {{disk, true}};
  t.max_file_bytes = 1 << 20;
  auto r = run_guest_file_tool(t);
  ASSERT_TRUE(r) << error_message(r.error());
  ASSERT_TRUE(r->ok()) << r->err;
  auto expected_id = ::geteuid() == 0 ? std::to_string(untrusted_tool_id)
                                      : std::to_string(::geteuid());
  EXPECT_EQ(r->out, expected_id + "\ndisk\n");
  EXPECT_EQ(read_all(disk), "disk\nmore\n");
  auto st = lstat_of(disk);
  EXPECT_EQ(st.st_uid, ::geteuid()) << "the file was not given back";
  EXPECT_EQ(st.st_mode & 07777, 0640u);
}

TEST(HostTool, LimitsAreSetFromTheTimeoutAndTheFileSize) {
  temp_dir tmp;
  auto disk = tmp.path() + "/disk";
  std::ofstream(disk) << std::string(8192, 'x');
  guest_file_tool t;
  t.argv = {"grep", "-E", "^Max (cpu time|file size|address space)",
            "/proc/self/limits"};
  t.files = {{disk, true}};
  t.timeout = std::chrono::seconds(42);
  auto r = run_guest_file_tool(t);
  ASSERT_TRUE(r) << error_message(r.error());
  EXPECT_TRUE(
      std::regex_search(r->out, std::regex{R"(Max cpu time\s+42\s+42\s)"}))
      << r->out;
  EXPECT_TRUE(
      std::regex_search(r->out, std::regex{R"(Max file size\s+8192\s+8192\s)"}))
      << r->out;
  EXPECT_TRUE(std::regex_search(
      r->out, std::regex{R"(Max address space\s+4294967296\s)"}))
      << r->out;
}

TEST(HostTool, AToolWritingPastTheFileIsStopped) {
  temp_dir tmp;
  auto disk = tmp.path() + "/disk";
  std::ofstream(disk) << std::string(4096, 'x');
  guest_file_tool t;
  // A hostile filesystem could make a tool grow the file without bound.
  t.argv = {"dd",     "if=/dev/zero", "of={0}",      "bs=4096",
            "seek=1", "count=100",    "conv=notrunc"};
  t.files = {{disk, true}};
  auto r = run_guest_file_tool(t);
  ASSERT_TRUE(r) << error_message(r.error());
  EXPECT_EQ(r->signal, SIGXFSZ);
  EXPECT_EQ(fs::file_size(disk), 4096u);
  EXPECT_EQ(lstat_of(disk).st_uid, ::geteuid());
}

TEST(HostTool, SymlinksAndNonFilesAreRefused) {
  temp_dir tmp;
  auto target = tmp.path() + "/target";
  std::ofstream(target) << "x";
  fs::create_symlink(target, tmp.path() + "/link");
  guest_file_tool t;
  t.argv = {"true", "{0}"};
  t.files = {{tmp.path() + "/link", true}};
  auto r = run_guest_file_tool(t);
  ASSERT_FALSE(r);
  EXPECT_EQ(error_code(r.error()), ec::invalid_argument);
  EXPECT_NE(error_message(r.error()).find(tmp.path() + "/link"),
            std::string::npos)
      << error_message(r.error());
  t.files = {{tmp.path(), false}};
  r = run_guest_file_tool(t);
  ASSERT_FALSE(r);
  EXPECT_EQ(error_code(r.error()), ec::invalid_argument);
}

TEST(HostTool, FlattenPinsBothFormatsAndTheBackingFile) {
  auto argv = flatten_argv("qemu-img");
  std::string all;
  for (auto& a : argv)
    all += a + " ";
  EXPECT_NE(all.find("driver=qcow2,file.driver=file,file.filename={0}"),
            std::string::npos);
  EXPECT_NE(all.find("backing.driver=raw"), std::string::npos);
  EXPECT_NE(all.find("backing.file.filename={1}"), std::string::npos);
  EXPECT_NE(all.find("--target-image-opts driver=raw"), std::string::npos);
}

bool run_ok(const std::vector<std::string>& argv) {
  auto r = run(argv);
  return r && r->ok();
}

// A build VM's overlay whose header names another backing file (a
// compromised QEMU can rewrite it): the image is built from the base banger
// knows, never from the file the header names.
TEST(HostTool, PublishIgnoresTheBackingFileTheOverlayNames) {
  temp_dir tmp;
  auto make_fs = [&](const std::string& name, const std::string& file) {
    auto d = tmp.path() + "/" + name + ".d";
    fs::create_directories(d);
    std::ofstream(d + "/" + file) << file;
    auto img = tmp.path() + "/" + name + ".raw";
    EXPECT_TRUE(
        run_ok({"mke2fs", "-q", "-t", "ext4", "-d", d, "-F", img, "32M"}));
    return img;
  };
  auto base = make_fs("base", "hello");
  auto secret = make_fs("secret", "host-secret");
  auto vm = tmp.path() + "/vm";
  fs::create_directories(vm);
  auto overlay = vm + "/root.qcow2";
  ASSERT_TRUE(run_ok({"qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw",
                      "-b", secret, overlay}));
  image_build_job job;
  job.name = "built";
  job.kernel = "k";
  job.base = "base";
  job.images_dir = tmp.path() + "/images";
  job.root_disk = overlay;
  job.base_rootfs = base;
  fs::create_directories(job.images_dir);
  auto r = publish_root_disk(job);
  ASSERT_TRUE(r) << error_message(r.error());
  auto listing = run({"debugfs", "-R", "ls -l /", r->rootfs});
  ASSERT_TRUE(listing);
  EXPECT_NE(listing->out.find("hello"), std::string::npos) << listing->out;
  EXPECT_EQ(listing->out.find("host-secret"), std::string::npos)
      << listing->out;
  EXPECT_EQ(lstat_of(r->rootfs).st_uid, ::geteuid());
}

} // namespace
} // namespace banger
