// Workspaces: which files of a git repo are sent (services/workspace), the
// tar stream the host writes (services/workspace_tar) and the guest agent's
// safe unpacking of it (guest/agent/untar), round trip and hostile streams.
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest/agent/untar.hpp"
#include "services/error.hpp"
#include "services/process.hpp"
#include "services/workspace.hpp"
#include "services/workspace_tar.hpp"
#include "test/unit/temp_dir.hpp"

namespace banger {
namespace {

namespace fs = std::filesystem;
using namespace std::string_literals;
using workspace::entry_kind;

void write_file(const fs::path& p, const std::string& data) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc) << data;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string sh(const std::string& dir, std::vector<std::string> argv) {
  run_options o;
  o.cwd = dir;
  o.env_extra = {"GIT_AUTHOR_NAME=t",     "GIT_AUTHOR_EMAIL=t@e",
                 "GIT_COMMITTER_NAME=t",  "GIT_COMMITTER_EMAIL=t@e",
                 "GIT_CONFIG_NOSYSTEM=1", "HOME=" + dir};
  auto r = run(argv, o);
  EXPECT_TRUE(r && r->ok())
      << argv[0] << " " << argv[1] << ": " << (r ? r->err : "not run");
  return r ? r->out : "";
}

void git_init(const std::string& dir) {
  sh(dir, {"git", "init", "-q", "-b", "main", "."});
}

void commit_all(const std::string& dir, const std::string& msg = "c") {
  sh(dir, {"git", "add", "-A"});
  sh(dir, {"git", "commit", "-q", "-m", msg});
}

std::vector<std::string> paths_of(const workspace::plan& p) {
  std::vector<std::string> out;
  for (auto& e : p.files)
    out.push_back(e.path);
  return out;
}

/// Every file under `dir` (recursively) with its content; symlinks as
/// "-> target"; directories as "<dir>".
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (auto it = fs::recursive_directory_iterator(dir);
       it != fs::recursive_directory_iterator(); ++it) {
    auto rel = fs::relative(it->path(), dir).string();
    if (it->is_symlink())
      out[rel] = "-> " + fs::read_symlink(it->path()).string();
    else if (it->is_directory())
      out[rel] = "<dir>";
    else
      out[rel] = read_file(it->path());
  }
  return out;
}

std::string tar_of(const workspace::plan& p) {
  std::string out;
  auto n = workspace::write_tar(p, [&](const char* d, std::size_t s) {
    out.append(d, s);
    return true;
  });
  EXPECT_TRUE(n) << (n ? "" : to_string(n.error()));
  return out;
}

agent::untar_stats untar_string(const std::string& tar,
                                const std::string& dir) {
  std::size_t pos = 0;
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  EXPECT_GE(fd, 0);
  struct closer {
    int fd;
    ~closer() { ::close(fd); }
  } c{fd};
  return agent::untar(fd, [&](char* buf, std::size_t size) {
    auto n = std::min(size, tar.size() - pos);
    std::memcpy(buf, tar.data() + pos, n);
    pos += n;
    return n;
  });
}

// --- pure parts ------------------------------------------------------------

TEST(WorkspaceSelect, SplitsNulListsAndStatusRenames) {
  EXPECT_EQ(workspace::split_nul("a\0b c\0"s),
            (std::vector<std::string>{"a", "b c"}));
  EXPECT_TRUE(workspace::split_nul("").empty());
  auto st = " M a.txt\0R  new name\0old name\0?? dir/x\ny\0"s;
  EXPECT_EQ(
      workspace::status_paths(st),
      (std::vector<std::string>{"a.txt", "new name", "old name", "dir/x\ny"}));
}

TEST(WorkspaceSelect, SortsDedupesAndDropsUnsafePaths) {
  auto got = workspace::select_paths(
      {"b", "a/c", "../up", "/abs", ".git/config", "a//b", "b"},
      {"z", "a/c", "./x", ".git"});
  EXPECT_EQ(got, (std::vector<std::string>{"a/c", "b", "z"}));
  EXPECT_TRUE(workspace::safe_relative_path("a b/ü\nx"));
  EXPECT_FALSE(workspace::safe_relative_path("a/../b"));
  EXPECT_FALSE(workspace::safe_relative_path(""));
}

TEST(WorkspaceSelect, IndexBlobsSkipGitlinks) {
  auto stage = "100644 aaa 0\tf\0"
               "160000 bbb 0\tsub\0"
               "100755 aaa 0\tg x\0"s;
  EXPECT_EQ(workspace::index_blobs(stage), (std::vector<std::string>{"aaa"}));
  EXPECT_EQ(workspace::index_gitlinks(stage),
            (std::vector<std::string>{"sub"}));
}

TEST(WorkspaceSelect, ParsesModes) {
  EXPECT_EQ(*workspace::parse_mode("full_copy"), workspace::mode::full_copy);
  auto bad = workspace::parse_mode("copy");
  ASSERT_FALSE(bad);
  EXPECT_NE(to_string(bad.error()).find("overlay"), std::string::npos);
}

// --- reading real repositories --------------------------------------------

TEST(WorkspacePlan, TrackedOnlyByDefaultUntrackedOnRequestIgnoredNever) {
  test::temp_dir t;
  git_init(t.path());
  write_file(t.path() + "/.gitignore", "*.log\n");
  write_file(t.path() + "/tracked.txt", "one\n");
  write_file(t.path() + "/with space ü\nnewline", "odd\n");
  commit_all(t.path());
  write_file(t.path() + "/untracked.txt", "u\n");
  write_file(t.path() + "/debug.log", "ignored\n");

  auto p = workspace::make_plan({t.path()});
  ASSERT_TRUE(p) << to_string(p.error());
  EXPECT_EQ(paths_of(*p), (std::vector<std::string>{".gitignore", "tracked.txt",
                                                    "with space ü\nnewline"}));
  auto u = workspace::make_plan({t.path(), workspace::mode::overlay, true});
  ASSERT_TRUE(u);
  EXPECT_EQ(paths_of(*u), (std::vector<std::string>{".gitignore", "tracked.txt",
                                                    "untracked.txt",
                                                    "with space ü\nnewline"}));
}

TEST(WorkspacePlan, LeavesTheRepositoryUntouched) {
  test::temp_dir t;
  git_init(t.path());
  write_file(t.path() + "/a", "a\n");
  commit_all(t.path());
  write_file(t.path() + "/a", "changed\n"); // dirty: status would refresh
  write_file(t.path() + "/new", "n\n");
  auto before = snapshot(t.path());
  struct stat st_before {};
  ::stat((t.path() + "/.git/index").c_str(), &st_before);
  ASSERT_TRUE(workspace::make_plan({t.path(), workspace::mode::overlay, true}));
  ASSERT_TRUE(
      workspace::make_plan({t.path(), workspace::mode::full_copy, true}));
  struct stat st_after {};
  ::stat((t.path() + "/.git/index").c_str(), &st_after);
  EXPECT_EQ(snapshot(t.path()), before); // no new objects, no index rewrite
  EXPECT_EQ(st_before.st_mtim.tv_nsec, st_after.st_mtim.tv_nsec);
  EXPECT_EQ(st_before.st_mtim.tv_sec, st_after.st_mtim.tv_sec);
}

TEST(WorkspacePlan, ClearErrorsForNonReposAndBareRepos) {
  test::temp_dir t;
  auto none = workspace::make_plan({t.path()});
  ASSERT_FALSE(none);
  EXPECT_NE(to_string(none.error()).find("not in a git repository"),
            std::string::npos);
  auto missing = workspace::make_plan({t.path() + "/nope"});
  ASSERT_FALSE(missing);
  EXPECT_NE(to_string(missing.error()).find("not a directory"),
            std::string::npos);
  sh(t.path(), {"git", "init", "-q", "--bare", "b.git"});
  auto bare = workspace::make_plan({t.path() + "/b.git"});
  ASSERT_FALSE(bare);
  EXPECT_NE(to_string(bare.error()).find("bare"), std::string::npos);
}

TEST(WorkspacePlan, RepoWithoutCommitsAndEmptyRepoWork) {
  test::temp_dir t;
  git_init(t.path());
  auto empty = workspace::make_plan({t.path()});
  ASSERT_TRUE(empty) << to_string(empty.error());
  EXPECT_TRUE(empty->files.empty());
  EXPECT_EQ(empty->repo.head, "");
  write_file(t.path() + "/staged", "s\n");
  sh(t.path(), {"git", "add", "staged"});
  auto staged = workspace::make_plan({t.path()});
  ASSERT_TRUE(staged);
  EXPECT_EQ(paths_of(*staged), (std::vector<std::string>{"staged"}));
  bool has_pack = false;
  for (auto& e : staged->git)
    has_pack |= e.path.find(".git/objects/pack/pack-") == 0;
  EXPECT_TRUE(has_pack); // the staged blob travels
}

TEST(WorkspacePlan, FingerprintChangesWithTheTree) {
  test::temp_dir t;
  git_init(t.path());
  write_file(t.path() + "/a", "a\n");
  commit_all(t.path());
  auto repo = workspace::inspect(t.path());
  ASSERT_TRUE(repo);
  auto f1 = *workspace::fingerprint(*repo, false);
  EXPECT_EQ(*workspace::fingerprint(*repo, false), f1);
  write_file(t.path() + "/a", "b\n");
  auto f2 = *workspace::fingerprint(*repo, false);
  EXPECT_NE(f2, f1);
  write_file(t.path() + "/a", "c\n"); // modified again: still differs
  EXPECT_NE(*workspace::fingerprint(*repo, false), f2);
  write_file(t.path() + "/u", "u\n");
  EXPECT_EQ(*workspace::fingerprint(*repo, false),
            *workspace::fingerprint(*repo, false));
  EXPECT_NE(*workspace::fingerprint(*repo, true),
            *workspace::fingerprint(*repo, false));
}

// --- the stream, both ends -------------------------------------------------

TEST(WorkspaceTar, RoundTripKeepsFilesSymlinksModesAndGit) {
  test::temp_dir t, out;
  git_init(t.path());
  write_file(t.path() + "/src/main.c", "int main(){}\n");
  write_file(t.path() + "/run.sh", "#!/bin/sh\n");
  fs::permissions(t.path() + "/run.sh", fs::perms::owner_exec,
                  fs::perm_options::add);
  write_file(t.path() + "/bin.dat", std::string("\0\1\2\xff", 4));
  write_file(t.path() + "/" + std::string(150, 'n') + "/"
                 + std::string(120, 'm'),
             "long\n");
  write_file(t.path() + "/ü space\nnl", "odd\n");
  fs::create_symlink("/etc/passwd", t.path() + "/outside");
  fs::create_symlink("src/main.c", t.path() + "/inside");
  commit_all(t.path());
  auto p = workspace::make_plan({t.path()});
  ASSERT_TRUE(p) << to_string(p.error());
  auto stats = untar_string(tar_of(*p), out.path());
  EXPECT_EQ(stats.symlinks, 2u);
  for (auto& e : p->files) {
    auto got = fs::path(out.path()) / e.path;
    if (e.kind == entry_kind::symlink) {
      ASSERT_TRUE(fs::is_symlink(got)) << e.path;
      EXPECT_EQ(fs::read_symlink(got).string(), e.data);
    } else {
      EXPECT_EQ(read_file(got), read_file(fs::path(t.path()) / e.path))
          << e.path;
    }
  }
  EXPECT_TRUE(fs::status(fs::path(out.path()) / "run.sh").permissions()
              == (fs::perms::owner_all | fs::perms::group_read
                  | fs::perms::group_exec | fs::perms::others_read
                  | fs::perms::others_exec));
  // The unpacked copy is a repo at the same HEAD with a clean status.
  EXPECT_EQ(sh(out.path(), {"git", "rev-parse", "HEAD"}), p->repo.head + "\n");
  EXPECT_EQ(sh(out.path(), {"git", "status", "--porcelain"}), "");
}

TEST(WorkspaceTar, FullCopyCarriesHistory) {
  test::temp_dir t, out;
  git_init(t.path());
  write_file(t.path() + "/a", "1\n");
  commit_all(t.path(), "first");
  write_file(t.path() + "/a", "2\n");
  commit_all(t.path(), "second");
  auto p = workspace::make_plan({t.path(), workspace::mode::full_copy});
  ASSERT_TRUE(p);
  untar_string(tar_of(*p), out.path());
  EXPECT_EQ(sh(out.path(), {"git", "rev-list", "--count", "HEAD"}), "2\n");
  EXPECT_EQ(sh(out.path(), {"git", "status", "--porcelain"}), "");
}

TEST(WorkspaceTar, ALinkedWorktreeShipsItsOwnHeadAndIndex) {
  test::temp_dir t, out_overlay, out_full;
  auto main_repo = t.path() + "/main";
  fs::create_directories(main_repo);
  git_init(main_repo);
  write_file(main_repo + "/a", "1\n");
  commit_all(main_repo, "first");
  sh(main_repo, {"git", "worktree", "add", "-q", "-b", "feature", t.path() + "/wt"});
  write_file(t.path() + "/wt/a", "2\n");
  commit_all(t.path() + "/wt", "on feature");
  for (auto [m, out] : {std::pair{workspace::mode::overlay, out_overlay.path()},
                        {workspace::mode::full_copy, out_full.path()}}) {
    auto p = workspace::make_plan({t.path() + "/wt", m});
    ASSERT_TRUE(p) << to_string(p.error());
    untar_string(tar_of(*p), out);
    EXPECT_EQ(read_file(out + "/a"), "2\n");
    EXPECT_EQ(sh(out, {"git", "rev-parse", "--abbrev-ref", "HEAD"}), "feature\n");
    EXPECT_EQ(sh(out, {"git", "status", "--porcelain"}), "");
    EXPECT_FALSE(fs::exists(out + "/.git/worktrees"));
  }
}

TEST(WorkspaceTar, BigFilesStreamInPieces) {
  test::temp_dir t, out;
  workspace::entry e;
  e.path = "big";
  e.source = t.path() + "/big";
  {
    std::ofstream f(e.source, std::ios::binary);
    std::string mb(1 << 20, 'x');
    for (int i = 0; i < 24; ++i) {
      mb[0] = static_cast<char>('a' + i);
      f << mb;
    }
  }
  e.size = fs::file_size(e.source);
  std::vector<workspace::entry> list{e};
  std::size_t biggest = 0, total = 0;
  std::string tar;
  ASSERT_TRUE(workspace::write_tar({&list}, [&](const char* d, std::size_t n) {
    biggest = std::max(biggest, n);
    total += n;
    tar.append(d, n);
    return true;
  }));
  EXPECT_LE(biggest, 65536u);
  EXPECT_GT(total, e.size);
  untar_string(tar, out.path());
  EXPECT_EQ(read_file(out.path() + "/big"), read_file(e.source));
}

TEST(WorkspaceTar, AStoppedSinkEndsTheStreamAsCancelled) {
  std::vector<workspace::entry> list{
      {"a", entry_kind::file, "", std::string(200000, 'a'), 200000, 0644}};
  auto r = workspace::write_tar({&list},
                                [](const char*, std::size_t) { return false; });
  ASSERT_FALSE(r);
  EXPECT_EQ(error_code(r.error()), ec::cancelled);
}

/// A tar made by hand with libarchive: (path, type, target-or-data).
std::string hostile_tar(
    const std::vector<std::tuple<std::string, int, std::string>>& items) {
  std::string out;
  auto* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_open(
      a, &out, nullptr,
      [](struct archive*, void* c, const void* b, size_t n) -> la_ssize_t {
        static_cast<std::string*>(c)->append(static_cast<const char*>(b), n);
        return static_cast<la_ssize_t>(n);
      },
      nullptr);
  for (auto& [path, type, data] : items) {
    auto* e = archive_entry_new();
    archive_entry_copy_pathname(e, path.c_str());
    archive_entry_set_filetype(e, static_cast<unsigned>(type));
    archive_entry_set_perm(e, 0644);
    if (type == AE_IFLNK)
      archive_entry_copy_symlink(e, data.c_str());
    if (type == AE_IFREG && !data.empty() && data[0] == '=') {
      archive_entry_copy_hardlink(e, data.c_str() + 1);
    } else if (type == AE_IFREG) {
      archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
    }
    archive_write_header(a, e);
    if (type == AE_IFREG && !data.empty() && data[0] != '=')
      archive_write_data(a, data.data(), data.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

TEST(WorkspaceUntar, RefusesEscapes) {
  test::temp_dir t;
  fs::create_directories(t.path() + "/in");
  auto in = t.path() + "/in";
  auto refused = [&](const std::string& tar, const std::string& why) {
    try {
      untar_string(tar, in);
      ADD_FAILURE() << "accepted: " << why;
    } catch (const agent::untar_error& e) {
      SUCCEED() << e.what();
    }
  };
  refused(hostile_tar({{"../evil", AE_IFREG, "x"}}), "..");
  refused(hostile_tar({{"a/../../evil", AE_IFREG, "x"}}), "nested ..");
  refused(hostile_tar({{"/tmp/evil", AE_IFREG, "x"}}), "absolute");
  refused(
      hostile_tar({{"link", AE_IFLNK, t.path()}, {"link/evil", AE_IFREG, "x"}}),
      "write through a symlink");
  refused(hostile_tar({{"h", AE_IFREG, "=/etc/passwd"}}), "hard link");
  refused(hostile_tar({{"dev", AE_IFCHR, ""}}), "device");
  refused(hostile_tar({{"a", AE_IFREG, "x"}}).substr(0, 700), "truncated");
  std::string bad = hostile_tar({{"a", AE_IFREG, "x"}});
  bad[10] ^= 1;
  refused(bad, "checksum");
  EXPECT_FALSE(fs::exists(t.path() + "/evil"));
  EXPECT_FALSE(fs::exists("/tmp/evil"));
  // A symlink pointing anywhere is fine as a symlink.
  test::temp_dir ok;
  untar_string(hostile_tar({{"up", AE_IFLNK, "../../etc"}}), ok.path());
  EXPECT_EQ(fs::read_symlink(ok.path() + "/up").string(), "../../etc");
}

TEST(WorkspaceUntar, SafeComponents) {
  EXPECT_EQ(agent::safe_components("./a//b/"),
            (std::vector<std::string>{"a", "b"}));
  EXPECT_THROW(agent::safe_components("a/.."), agent::untar_error);
  EXPECT_THROW(agent::safe_components("."), agent::untar_error);
  EXPECT_THROW(agent::safe_components("/x"), agent::untar_error);
}

} // namespace
} // namespace banger
