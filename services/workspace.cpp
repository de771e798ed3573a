#include "services/workspace.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "services/error.hpp"
#include "services/process.hpp"
#include "services/sha256.hpp"

namespace banger::workspace {

namespace fs = std::filesystem;

namespace {

/// Runs git in `dir` without taking optional locks (so `git status` does not
/// refresh and rewrite the index). Returns stdout; a failure quotes stderr.
caf::expected<std::string> git(const std::string& dir,
                               const std::vector<std::string>& args,
                               std::string stdin_data = {}) {
  std::vector<std::string> argv{"git", "-C", dir};
  argv.insert(argv.end(), args.begin(), args.end());
  run_options o;
  o.env_extra = {"GIT_OPTIONAL_LOCKS=0", "LC_ALL=C", "GIT_TERMINAL_PROMPT=0"};
  o.stdin_data = std::move(stdin_data);
  auto r = run(argv, o);
  if (!r)
    return r.error();
  if (!r->ok()) {
    auto err = r->err;
    while (!err.empty() && (err.back() == '\n' || err.back() == ' '))
      err.pop_back();
    return make_error(ec::internal,
                      "git " + args.front() + " in " + dir + " failed: " + err);
  }
  return std::move(r->out);
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r'))
    s.pop_back();
  return s;
}

caf::expected<std::string> read_small(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return make_error(ec::internal,
                      "cannot read " + path + ": " + std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

entry generated(std::string path, std::string data, std::uint32_t perm = 0644) {
  entry e;
  e.path = std::move(path);
  e.kind = entry_kind::file;
  e.size = data.size();
  e.data = std::move(data);
  e.perm = perm;
  return e;
}

entry directory(std::string path) {
  entry e;
  e.path = std::move(path);
  e.kind = entry_kind::dir;
  e.perm = 0755;
  return e;
}

/// The entry for the host file `abs`, or nullopt when it is gone or is not a
/// file, directory or symlink. `git_perm`: keep the mode (files in .git);
/// else 0755/0644 by the owner's x bit, like git.
std::optional<entry> from_host(const std::string& abs, std::string rel,
                               bool git_perm) {
  struct stat st {};
  if (::lstat(abs.c_str(), &st) != 0)
    return std::nullopt;
  entry e;
  e.path = std::move(rel);
  if (S_ISREG(st.st_mode)) {
    e.kind = entry_kind::file;
    e.source = abs;
    e.size = static_cast<std::uint64_t>(st.st_size);
    e.perm = git_perm ? (st.st_mode & 0777) | 0200
                      : ((st.st_mode & S_IXUSR) ? 0755 : 0644);
  } else if (S_ISLNK(st.st_mode)) {
    std::string target(static_cast<std::size_t>(st.st_size) + 256, '\0');
    auto n = ::readlink(abs.c_str(), target.data(), target.size());
    if (n <= 0)
      return std::nullopt;
    target.resize(static_cast<std::size_t>(n));
    e.kind = entry_kind::symlink;
    e.data = std::move(target);
    e.perm = 0777;
  } else if (S_ISDIR(st.st_mode)) {
    e.kind = entry_kind::dir;
    e.perm = 0755;
  } else {
    return std::nullopt;
  }
  return e;
}

/// Every file, directory and symlink under `dir`, as `prefix`/relative.
/// `skip` decides on relative paths (a skipped directory is not entered).
template <class Skip>
void walk(const std::string& dir, const std::string& prefix,
          std::vector<entry>& out, Skip skip) {
  std::error_code err;
  fs::recursive_directory_iterator it(dir, err), end;
  for (; !err && it != end; it.increment(err)) {
    auto rel = fs::relative(it->path(), dir, err).string();
    if (err)
      break;
    if (skip(rel)) {
      if (it->is_directory(err) && !it->is_symlink(err))
        it.disable_recursion_pending();
      continue;
    }
    if (auto e = from_host(it->path().string(), prefix + "/" + rel, true))
      out.push_back(std::move(*e));
  }
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size()
         && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// The overlay .git: HEAD, the branch ref, config, index, info/exclude and
/// one pack of what HEAD's tree and the index need.
caf::expected<void> overlay_git(plan& p, const std::string& ls_stage) {
  const auto& r = p.repo;
  auto& out = p.git;
  for (auto d :
       {".git", ".git/objects", ".git/objects/info", ".git/objects/pack",
        ".git/refs", ".git/refs/heads", ".git/refs/tags", ".git/info"})
    out.push_back(directory(d));
  out.push_back(generated(".git/HEAD", r.head_ref.empty()
                                           ? r.head + "\n"
                                           : "ref: " + r.head_ref + "\n"));
  if (!r.head.empty() && !r.head_ref.empty())
    out.push_back(generated(".git/" + r.head_ref, r.head + "\n"));
  auto config = read_small(r.common_dir + "/config");
  if (!config)
    return config.error();
  out.push_back(generated(".git/config", std::move(*config)));
  for (auto [from, to] :
       {std::pair{r.git_dir + "/index", ".git/index"},
        {r.common_dir + "/info/exclude", ".git/info/exclude"}})
    if (auto e = from_host(from, to, true); e && e->kind == entry_kind::file)
      out.push_back(std::move(*e));

  std::string wanted;
  if (!r.head.empty()) {
    auto parents = git(r.top, {"rev-list", "--parents", "-n", "1", r.head});
    if (!parents)
      return parents.error();
    if (trim(*parents).find(' ') != std::string::npos)
      out.push_back(generated(".git/shallow", r.head + "\n"));
    auto objects = git(r.top, {"rev-list", "--objects", "--no-object-names",
                               "-n", "1", r.head});
    if (!objects)
      return objects.error();
    wanted = std::move(*objects);
  }
  for (auto& blob : index_blobs(ls_stage))
    wanted += blob + "\n";
  if (wanted.empty())
    return {};
  auto scratch = scratch_dir::make();
  if (!scratch)
    return scratch.error();
  p.scratch = *scratch;
  auto packed = git(r.top,
                    {"pack-objects", "-q", "--missing=allow-any",
                     p.scratch->path() + "/pack"},
                    std::move(wanted));
  if (!packed)
    return packed.error();
  auto name = "pack-" + trim(*packed);
  for (auto ext : {".pack", ".idx"})
    if (auto e = from_host(p.scratch->path() + "/" + name + ext,
                           ".git/objects/pack/" + name + ext, true))
      out.push_back(std::move(*e));
  return {};
}

/// The full_copy .git: the host's, less lock files and other worktrees.
void full_git(plan& p) {
  const auto& r = p.repo;
  bool linked = fs::path(r.git_dir).lexically_normal()
                != fs::path(r.common_dir).lexically_normal();
  p.git.push_back(directory(".git"));
  walk(r.common_dir, ".git", p.git, [&](const std::string& rel) {
    if (ends_with(rel, ".lock") || rel == "banger-workspace.json")
      return true;
    return linked && (rel == "worktrees" || rel == "index" || rel == "HEAD");
  });
  if (linked)
    for (auto name : {"HEAD", "index"})
      if (auto e = from_host(r.git_dir + "/" + name,
                             std::string(".git/") + name, true))
        p.git.push_back(std::move(*e));
}

} // namespace

caf::expected<mode> parse_mode(const std::string& text) {
  if (text == "overlay")
    return mode::overlay;
  if (text == "full_copy")
    return mode::full_copy;
  return make_error(ec::invalid_argument,
                    "unknown workspace mode '" + text
                        + "'; use overlay (HEAD only, fast) or full_copy "
                          "(all history and submodules)");
}

const char* to_string(mode m) {
  return m == mode::overlay ? "overlay" : "full_copy";
}

caf::expected<std::shared_ptr<scratch_dir>> scratch_dir::make() {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp && *tmp == '/' ? tmp : "/tmp")
                     + "/banger-workspace-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr)
    return make_error(ec::internal, "cannot make a scratch directory in " + tmpl
                                        + ": " + std::strerror(errno));
  return std::shared_ptr<scratch_dir>(new scratch_dir(tmpl));
}

scratch_dir::~scratch_dir() {
  std::error_code err;
  if (!path_.empty())
    fs::remove_all(path_, err);
}

std::vector<std::string> split_nul(std::string_view text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\0', start);
    if (end == std::string_view::npos)
      end = text.size();
    out.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::vector<std::string> status_paths(std::string_view porcelain) {
  std::vector<std::string> out;
  auto items = split_nul(porcelain);
  for (std::size_t i = 0; i < items.size(); ++i) {
    const auto& it = items[i];
    if (it.size() < 4)
      continue;
    out.push_back(it.substr(3));
    // Renames and copies: the old path follows as its own item.
    if ((it[0] == 'R' || it[0] == 'C' || it[1] == 'R' || it[1] == 'C')
        && i + 1 < items.size())
      out.push_back(items[++i]);
  }
  return out;
}

bool safe_relative_path(const std::string& path) {
  if (path.empty() || path[0] == '/' || path.find('\0') != std::string::npos)
    return false;
  std::size_t start = 0;
  for (;;) {
    auto end = path.find('/', start);
    auto part =
        path.substr(start, end == std::string::npos ? end : end - start);
    if (part.empty() || part == "." || part == "..")
      return false;
    if (end == std::string::npos)
      return true;
    start = end + 1;
  }
}

std::vector<std::string>
select_paths(std::vector<std::string> tracked,
             const std::vector<std::string>& untracked) {
  tracked.insert(tracked.end(), untracked.begin(), untracked.end());
  std::vector<std::string> out;
  for (auto& p : tracked) {
    if (!safe_relative_path(p) || p == ".git" || p.rfind(".git/", 0) == 0)
      continue;
    out.push_back(std::move(p));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

namespace {

/// "MODE SHA STAGE\tPATH" items: {mode, sha, path}.
template <class F> void each_stage_line(std::string_view text, F f) {
  for (auto& item : split_nul(text)) {
    auto tab = item.find('\t');
    auto sp1 = item.find(' ');
    if (tab == std::string::npos || sp1 == std::string::npos)
      continue;
    auto sp2 = item.find(' ', sp1 + 1);
    if (sp2 == std::string::npos || sp2 > tab)
      continue;
    f(item.substr(0, sp1), item.substr(sp1 + 1, sp2 - sp1 - 1),
      item.substr(tab + 1));
  }
}

} // namespace

std::vector<std::string> index_blobs(std::string_view ls_files_stage) {
  std::set<std::string> seen;
  std::vector<std::string> out;
  each_stage_line(
      ls_files_stage,
      [&](const std::string& m, const std::string& sha, const std::string&) {
        if (m != "160000" && seen.insert(sha).second)
          out.push_back(sha);
      });
  return out;
}

std::vector<std::string> index_gitlinks(std::string_view ls_files_stage) {
  std::vector<std::string> out;
  each_stage_line(ls_files_stage, [&](const std::string& m, const std::string&,
                                      const std::string& path) {
    if (m == "160000")
      out.push_back(path);
  });
  return out;
}

caf::expected<repo_info> inspect(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return make_error(ec::invalid_argument,
                      "workspace path '" + path
                          + "' is not a directory; pass the path of a git "
                            "repository (default: the current directory)");
  std::vector<std::string> argv{"git", "-C", path, "rev-parse",
                                "--is-bare-repository"};
  run_options o;
  o.env_extra = {"GIT_OPTIONAL_LOCKS=0", "LC_ALL=C"};
  auto bare = run(argv, o);
  if (!bare)
    return make_error(ec::unavailable, "workspaces need git on this host: "
                                           + missing_program_message("git"));
  if (!bare->ok())
    return make_error(ec::invalid_argument,
                      "workspace path '" + path
                          + "' is not in a git repository; run 'git init' "
                            "there (workspaces ship what git tracks), or pass "
                            "the repository's path");
  if (trim(bare->out) == "true")
    return make_error(ec::invalid_argument,
                      "workspace path '" + path
                          + "' is a bare git repository, which has no files to "
                            "ship; pass a clone with a worktree");
  auto dirs = git(path, {"rev-parse", "--path-format=absolute",
                         "--show-toplevel", "--git-dir", "--git-common-dir"});
  if (!dirs)
    return dirs.error();
  std::istringstream lines(*dirs);
  repo_info r;
  std::getline(lines, r.top);
  std::getline(lines, r.git_dir);
  std::getline(lines, r.common_dir);
  if (r.top.empty() || r.git_dir.empty() || r.common_dir.empty())
    return make_error(ec::invalid_argument,
                      "workspace path '" + path
                          + "' is inside a git dir, not a worktree; pass the "
                            "repository's path");
  argv = {"git", "-C", r.top, "rev-parse", "-q", "--verify", "HEAD^{commit}"};
  if (auto head = run(argv, o); head && head->ok())
    r.head = trim(head->out);
  argv = {"git", "-C", r.top, "symbolic-ref", "-q", "HEAD"};
  if (auto ref = run(argv, o); ref && ref->ok())
    r.head_ref = trim(ref->out);
  return r;
}

caf::expected<std::string> fingerprint(const repo_info& repo,
                                       bool include_untracked) {
  auto status = git(
      repo.top,
      {"status", "--porcelain=v1", "-z", "--ignore-submodules=none",
       include_untracked ? "--untracked-files=all" : "--untracked-files=no"});
  if (!status)
    return status.error();
  sha256_hasher h;
  h.update(repo.head.data(), repo.head.size());
  h.update("\0", 1);
  h.update(status->data(), status->size());
  for (auto& rel : status_paths(*status)) {
    auto abs = repo.top + "/" + rel;
    struct stat st {};
    if (::lstat(abs.c_str(), &st) != 0)
      continue;
    h.update("\0", 1);
    if (S_ISLNK(st.st_mode)) {
      char buf[4096];
      auto n = ::readlink(abs.c_str(), buf, sizeof buf);
      if (n > 0)
        h.update(buf, static_cast<std::size_t>(n));
    } else if (S_ISREG(st.st_mode)) {
      int fd = ::open(abs.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0)
        continue;
      char buf[65536];
      for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;)
        h.update(buf, static_cast<std::size_t>(n));
      ::close(fd);
    }
  }
  return h.hex();
}

caf::expected<plan> make_plan(const options& opts) {
  auto repo = inspect(opts.path);
  if (!repo)
    return repo.error();
  plan p;
  p.repo = *repo;
  p.opts = opts;
  bool full = opts.m == mode::full_copy;
  std::vector<std::string> args{"ls-files", "-z"};
  if (full)
    args.push_back("--recurse-submodules");
  auto tracked = git(p.repo.top, args);
  if (!tracked)
    return tracked.error();
  std::vector<std::string> untracked;
  if (opts.include_untracked) {
    auto others =
        git(p.repo.top, {"ls-files", "-z", "--others", "--exclude-standard"});
    if (!others)
      return others.error();
    untracked = split_nul(*others);
  }
  auto stage = git(p.repo.top, {"ls-files", "-s", "-z"});
  if (!stage)
    return stage.error();
  auto paths = select_paths(split_nul(*tracked), untracked);
  if (full)
    for (auto& link : index_gitlinks(*stage))
      if (safe_relative_path(link))
        paths.push_back(link);
  std::sort(paths.begin(), paths.end());
  paths.erase(std::unique(paths.begin(), paths.end()), paths.end());
  for (auto& rel : paths)
    if (auto e = from_host(p.repo.top + "/" + rel, rel, false))
      p.files.push_back(std::move(*e));
  if (full) {
    // A submodule's .git is a file pointing into .git/modules (copied with
    // .git), or an old-style directory of its own.
    for (auto& link : index_gitlinks(*stage)) {
      if (!safe_relative_path(link))
        continue;
      auto abs = p.repo.top + "/" + link + "/.git";
      auto e = from_host(abs, link + "/.git", true);
      if (!e)
        continue;
      if (e->kind == entry_kind::dir)
        walk(abs, link + "/.git", p.files,
             [](const std::string& rel) { return ends_with(rel, ".lock"); });
      p.files.push_back(std::move(*e));
    }
    full_git(p);
  } else if (auto ok = overlay_git(p, *stage); !ok) {
    return ok.error();
  }
  for (auto& e : p.files)
    p.file_bytes += e.size;
  for (auto& e : p.git)
    p.git_bytes += e.size;
  auto fp = fingerprint(p.repo, opts.include_untracked);
  if (!fp)
    return fp.error();
  p.fingerprint = *fp;
  return p;
}

wire::json to_json(const state& s) {
  return {{"path", s.path},
          {"mode", s.mode},
          {"include_untracked", s.include_untracked},
          {"head", s.head},
          {"head_ref", s.head_ref},
          {"fingerprint", s.fingerprint},
          {"prepared_at", s.prepared_at}};
}

state state_from_json(const wire::json& j) {
  state s;
  wire::object_reader r(j, "workspace state");
  r.required("path", s.path);
  r.required("mode", s.mode);
  r.optional("include_untracked", s.include_untracked);
  r.optional("head", s.head);
  r.optional("head_ref", s.head_ref);
  r.optional("fingerprint", s.fingerprint);
  r.optional("prepared_at", s.prepared_at);
  return s;
}

state state_of(const plan& p, std::string prepared_at) {
  return {p.repo.top,
          to_string(p.opts.m),
          p.opts.include_untracked,
          p.repo.head,
          p.repo.head_ref,
          p.fingerprint,
          std::move(prepared_at)};
}

} // namespace banger::workspace
