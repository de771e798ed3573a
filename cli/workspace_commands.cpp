// banger vm workspace prepare|export
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include <fcntl.h>
#include <unistd.h>

#include "cli/commands.hpp"
#include "cli/render.hpp"
#include "cli/workspace.hpp"
#include "services/error.hpp"

namespace banger::cli {

namespace {

struct prepare_opts {
  std::string name;
  std::string path = ".";
  workspace_flags ws;
  bool dry_run = false;
  bool json = false;
};

struct export_opts {
  std::string name;
  std::string base;
  std::string output;
  std::string format = "diff";
};

/// A path on one line: newlines, tabs and backslashes escaped C-style.
std::string display_path(const std::string& p) {
  std::string out;
  for (char c : p) {
    if (c == '\n')
      out += "\\n";
    else if (c == '\t')
      out += "\\t";
    else if (c == '\\')
      out += "\\\\";
    else
      out += c;
  }
  return out;
}

std::string dump(const wire::json& j) {
  return j.dump(2, ' ', false, wire::json::error_handler_t::replace) + "\n";
}

const char* kind_name(workspace::entry_kind k) {
  switch (k) {
  case workspace::entry_kind::dir:
    return "dir";
  case workspace::entry_kind::symlink:
    return "symlink";
  default:
    return "file";
  }
}

std::string head_text(const workspace::plan& p) {
  return p.repo.head.empty() ? std::string("no commits yet")
                             : "HEAD " + p.repo.head.substr(0, 12);
}

int do_prepare(const prepare_opts& o) {
  auto plan = plan_or_fail(o.path, o.ws);
  if (o.dry_run) {
    if (o.json) {
      auto files = wire::json::array();
      for (auto& e : plan.files)
        files.push_back(
            {{"path", e.path}, {"type", kind_name(e.kind)}, {"size", e.size}});
      print(dump({{"repo", plan.repo.top},
                  {"mode", workspace::to_string(plan.opts.m)},
                  {"head", plan.repo.head},
                  {"include_untracked", plan.opts.include_untracked},
                  {"count", plan.files.size()},
                  {"bytes", plan.file_bytes},
                  {"git_bytes", plan.git_bytes},
                  {"files", files}}));
      return exit_ok;
    }
    std::string out = "would send " + plan_summary(plan) + " from "
                      + plan.repo.top + " at " + head_text(plan) + " to "
                      + o.name + ":" + guest_workspace + "\n";
    for (auto& e : plan.files) {
      auto size = e.kind == workspace::entry_kind::file ? format_bytes(e.size)
                                                        : kind_name(e.kind);
      out += "  " + std::string(size.size() < 10 ? 10 - size.size() : 0, ' ')
             + size + "  " + display_path(e.path) + "\n";
    }
    print(out);
    return exit_ok;
  }
  auto client = connect_daemon();
  send_workspace(client, o.name, plan);
  if (o.json) {
    auto j = to_json(workspace::state_of(plan, ""));
    j.erase("prepared_at");
    j["count"] = plan.files.size();
    j["bytes"] = plan.file_bytes;
    j["git_bytes"] = plan.git_bytes;
    print(dump(j));
    return exit_ok;
  }
  print(o.name + ":" + guest_workspace + " prepared from " + plan.repo.top
        + " at " + head_text(plan) + ": " + plan_summary(plan) + "\n");
  return exit_ok;
}

// The guest half of export. $1: the base commit ("" for the guest's HEAD).
// The temporary index lives in the git dir, not /tmp: git's lockfile dance
// fails across filesystems (the seed's "tmpfs index" bug).
constexpr const char* export_script = R"SH(set -e
cd /root/repo 2>/dev/null || { echo "no workspace at /root/repo in this VM; prepare one first: banger vm workspace prepare VM PATH" >&2; exit 3; }
command -v git >/dev/null 2>&1 || { echo "this VM's image has no git, which workspace export runs in the guest; use an image with git (e.g. the Debian image) or copy the files out another way" >&2; exit 4; }
base="$1"
if [ -n "$base" ]; then
  git rev-parse -q --verify "$base^{commit}" >/dev/null || { echo "base commit $base is not in the guest's repository (an overlay workspace holds only the prepared commit and later ones; prepare with --mode full_copy to export against older commits)" >&2; exit 5; }
else
  base=$(git rev-parse -q --verify HEAD || git hash-object -t tree /dev/null)
fi
gd=$(git rev-parse --absolute-git-dir)
idx="$gd/banger-export-index.$$"
trap 'rm -f "$idx" "$idx.lock"' EXIT
if [ -f "$gd/index" ]; then cp "$gd/index" "$idx"; fi
GIT_INDEX_FILE="$idx" git add -A
if [ "$2" != mbox ]; then
  GIT_INDEX_FILE="$idx" git diff --cached --binary --full-index -M --no-color --no-ext-diff "$base"
  exit 0
fi
# mbox: the guest's commits after base, then its uncommitted changes as one
# more commit object that no ref or index points at.
tip=$(git rev-parse -q --verify HEAD || true)
tree=$(GIT_INDEX_FILE="$idx" git write-tree)
if [ -z "$tip" ] || [ "$(git rev-parse "$tip^{tree}")" != "$tree" ]; then
  name=$(git config user.name || echo banger)
  email=$(git config user.email || echo "banger@$3.vm")
  export GIT_AUTHOR_NAME="${GIT_AUTHOR_NAME:-$name}" GIT_AUTHOR_EMAIL="${GIT_AUTHOR_EMAIL:-$email}"
  export GIT_COMMITTER_NAME="${GIT_COMMITTER_NAME:-$name}" GIT_COMMITTER_EMAIL="${GIT_COMMITTER_EMAIL:-$email}"
  tip=$(git commit-tree "$tree" ${tip:+-p "$tip"} -m "Uncommitted changes in VM $3")
fi
set -- --stdout --binary --full-index -M --no-signature --no-color
if [ "$(git cat-file -t "$base")" = tree ]; then
  git format-patch "$@" --root "$tip"
else
  git format-patch "$@" "$base..$tip"
fi
)SH";

int do_export(const export_opts& o) {
  auto client = connect_daemon();
  std::string base = o.base;
  if (base.empty())
    if (auto st = guest_state(client, o.name))
      base = st->head;
  int fd = STDOUT_FILENO;
  std::string tmp;
  if (!o.output.empty() && o.output != "-") {
    tmp = o.output + ".banger-tmp";
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
      fail("cannot write the patch to '" + o.output
           + "': " + std::strerror(errno));
  }
  exec_spec spec;
  spec.argv = {"sh", "-c", export_script, "banger-export", base, o.format, o.name};
  spec.cwd = "/";
  std::string err;
  std::uint64_t bytes = 0;
  bool write_failed = false;
  stream_hooks hooks;
  hooks.on_output = [&](const output_chunk& c) {
    if (c.stream == 2) {
      err += c.data;
      return;
    }
    bytes += c.data.size();
    if (!wire::write_all(fd, c.data))
      write_failed = true;
  };
  auto cleanup = [&] {
    if (!tmp.empty()) {
      ::close(fd);
      ::unlink(tmp.c_str());
    }
  };
  reply r;
  try {
    r = client.stream("vm.exec", to_json(vm_exec_request{o.name, spec}), hooks);
  } catch (...) {
    cleanup();
    throw;
  }
  if (!r.ok()) {
    cleanup();
    result_of(r); // throws the daemon's error
  }
  auto res = decode_result<exec_result>(r);
  if (res.exit_code != 0) {
    cleanup();
    while (!err.empty() && err.back() == '\n')
      err.pop_back();
    fail(
        "workspace export from VM '" + o.name + "' failed: "
        + (err.empty() ? "exit status " + std::to_string(res.exit_code) : err));
  }
  if (write_failed) {
    cleanup();
    fail("cannot write the patch to '" + (tmp.empty() ? "stdout" : o.output)
         + "'");
  }
  if (!tmp.empty()) {
    ::close(fd);
    if (::rename(tmp.c_str(), o.output.c_str()) != 0) {
      ::unlink(tmp.c_str());
      fail("cannot write the patch to '" + o.output
           + "': " + std::strerror(errno));
    }
    std::string msg = bytes == 0
                          ? "no changes in " + o.name + ":" + guest_workspace
                                + "; wrote an empty " + o.output + "\n"
                          : "wrote " + o.output + " (" + format_bytes(bytes)
                                + "); apply it in the repo with: "
                                + (o.format == "mbox" ? "git am " : "git apply ")
                                + o.output + "\n";
    wire::write_all(STDERR_FILENO, msg);
  }
  return exit_ok;
}

void add_prepare(CLI::App& ws, action& selected) {
  auto o = std::make_shared<prepare_opts>();
  auto* cmd = ws.add_subcommand("prepare",
                                "Copy a git repository into a VM's /root/repo");
  cmd->add_option("name", o->name, "The VM (need not exist with --dry-run)")
      ->required();
  cmd->add_option("path", o->path,
                  "The git repository (any directory in it); default: .");
  add_workspace_options(*cmd, o->ws);
  cmd->add_flag("--dry-run", o->dry_run,
                "List what would be sent (count, bytes, paths); no VM needed");
  cmd->add_flag("--json", o->json, "Print the result as JSON");
  cmd->footer(
      "Sends the repository's tracked files as they are on disk (modified or "
      "not), with\n"
      "HEAD, the index and the config in /root/repo/.git, so that git status "
      "in the guest\n"
      "shows what it shows on the host. Untracked files only with "
      "--include-untracked;\n"
      "ignored files never. Symlinks are sent as symlinks, never followed. "
      "The VM must be\n"
      "running; the repository on the host is only read (its index is not "
      "refreshed).\n"
      "Preparing again replaces /root/repo. Later 'banger vm exec' commands "
      "run in\n"
      "/root/repo and warn when the host tree changed since.\n\n"
      "Modes:\n"
      "  overlay    .git holds HEAD's commit (shallow) and the index's "
      "objects: fast\n"
      "             whatever the history; submodules stay empty directories\n"
      "  full_copy  .git is a copy of the host's (history, branches, "
      "stashes), and\n"
      "             submodules come with their files\n\n"
      "Examples:\n"
      "  banger vm workspace prepare box\n"
      "  banger vm workspace prepare box ~/src/app --include-untracked\n"
      "  banger vm workspace prepare box --dry-run");
  cmd->callback(
      [o, &selected] { selected = {[o] { return do_prepare(*o); }}; });
}

void add_export(CLI::App& ws, action& selected) {
  auto o = std::make_shared<export_opts>();
  auto* cmd = ws.add_subcommand(
      "export", "Write the guest's changes to /root/repo as a patch");
  cmd->add_option("name", o->name, "The VM")->required();
  cmd->add_option("--base-commit", o->base,
                  "Diff against this commit (default: the prepared HEAD), so "
                  "that commits made in the guest are in the patch too");
  cmd->add_option("-o,--output", o->output,
                  "Write the patch to FILE (default: stdout)");
  cmd->add_option("--format", o->format,
                  "diff: one patch for 'git apply' (default); mbox: one mail "
                  "per guest commit, and the uncommitted changes as a last "
                  "one, for 'git am'")
      ->check(CLI::IsMember({"diff", "mbox"}));
  cmd->footer(
      "The patch holds every change in the guest's /root/repo since the base: "
      "commits made\n"
      "in the guest, staged, unstaged and new files (not ignored ones), "
      "binary files and\n"
      "renames. 'git apply FILE' in the host repo, at the base commit, "
      "reproduces the guest's\n"
      "files. It is made by git in the guest (the image needs git) with a "
      "temporary index:\n"
      "neither the guest's index nor anything on the host changes.\n\n"
      "Examples:\n"
      "  banger vm workspace export box -o changes.patch && git apply "
      "changes.patch\n"
      "  banger vm workspace export box --base-commit $(git rev-parse HEAD) "
      "| git apply\n"
      "  banger vm workspace export box --format mbox | git am");
  cmd->callback([o, &selected] { selected = {[o] { return do_export(*o); }}; });
}

} // namespace

void add_workspace_commands(CLI::App& vm, action& selected) {
  auto* ws = vm.add_subcommand(
      "workspace", "Copy a git repository into a VM and its changes back out");
  ws->require_subcommand(1);
  add_prepare(*ws, selected);
  add_export(*ws, selected);
}

} // namespace banger::cli
