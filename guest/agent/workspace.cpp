#include "guest/agent/workspace.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <fcntl.h>
#include <unistd.h>

#include "guest/agent/untar.hpp"

namespace banger::agent {

namespace {

namespace fs = std::filesystem;

void say(const std::string& text) {
  std::string line = text + "\n";
  [[maybe_unused]] auto n = ::write(STDOUT_FILENO, line.data(), line.size());
}

int complain(const std::string& text) {
  std::string line = "banger-agent: " + text + "\n";
  [[maybe_unused]] auto n = ::write(STDERR_FILENO, line.data(), line.size());
  return 1;
}

std::size_t read_stdin(char* buf, std::size_t size) {
  for (;;) {
    auto n = ::read(STDIN_FILENO, buf, size);
    if (n >= 0)
      return static_cast<std::size_t>(n);
    if (errno != EINTR)
      throw untar_error(std::string("reading the stream: ")
                        + std::strerror(errno));
  }
}

int unpack(const fs::path& dest, const std::string& state) {
  if (!dest.is_absolute() || dest.filename().empty())
    return complain("workspace-unpack: DEST must be an absolute path, not '"
                    + dest.string() + "'");
  auto parent = dest.parent_path();
  std::error_code err;
  fs::create_directories(parent, err);
  auto tag = std::to_string(::getpid());
  auto staging =
      parent / ("." + dest.filename().string() + ".banger-new-" + tag);
  auto old = parent / ("." + dest.filename().string() + ".banger-old-" + tag);
  // Leftovers of unpacks that were cut off (the host went away).
  auto prefix = "." + dest.filename().string() + ".banger-";
  for (fs::directory_iterator it(parent, err), end; !err && it != end;
       it.increment(err))
    if (it->path().filename().string().rfind(prefix, 0) == 0) {
      std::error_code ignored;
      fs::remove_all(it->path(), ignored);
    }
  err.clear();
  if (!fs::create_directory(staging, err))
    return complain("cannot create " + staging.string() + ": " + err.message());
  try {
    int root = ::open(staging.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0)
      throw untar_error("cannot open " + staging.string() + ": "
                        + std::strerror(errno));
    untar_stats stats;
    try {
      stats = untar(root, read_stdin, [](std::uint64_t consumed) {
        say("ack " + std::to_string(consumed));
      });
    } catch (...) {
      ::close(root);
      throw;
    }
    ::close(root);
    fs::create_directories(staging / ".git");
    {
      std::ofstream marker(staging / workspace_marker, std::ios::trunc);
      marker << state << "\n";
      if (!marker)
        throw untar_error("cannot write "
                          + (staging / workspace_marker).string());
    }
    // The files must be on the disk before we answer: a stop right after a
    // prepare must not lose them (the seed lost a workspace that way).
    int sfd = ::open(staging.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sfd >= 0) {
      ::syncfs(sfd);
      ::close(sfd);
    }
    bool had_old = fs::exists(fs::symlink_status(dest));
    if (had_old)
      fs::rename(dest, old);
    fs::rename(staging, dest);
    if (had_old)
      fs::remove_all(old, err);
    say("ack " + std::to_string(stats.consumed));
    say("done " + std::to_string(stats.files) + " "
        + std::to_string(stats.bytes));
    return 0;
  } catch (const std::exception& e) {
    fs::remove_all(staging, err);
    return complain(std::string("workspace not unpacked: ") + e.what()
                    + " (the previous " + dest.string() + " is unchanged)");
  }
}

int state(const fs::path& dest) {
  std::ifstream in(dest / workspace_marker);
  if (!in)
    return 0;
  std::stringstream ss;
  ss << in.rdbuf();
  auto text = ss.str();
  [[maybe_unused]] auto n = ::write(STDOUT_FILENO, text.data(), text.size());
  return 0;
}

} // namespace

int workspace_main(int argc, char** argv) {
  std::string cmd = argv[1];
  if (cmd == "workspace-unpack" && argc == 4)
    return unpack(argv[2], argv[3]);
  if (cmd == "workspace-state" && argc == 3)
    return state(argv[2]);
  return complain("usage: banger-agent workspace-unpack DEST STATE_JSON | "
                  "workspace-state DEST");
}

} // namespace banger::agent
