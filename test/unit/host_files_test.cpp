// config.toml's [guest] files: entry parsing and reading the host files
// into the blob banger-init installs.
#include <fstream>

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "messages/host_files.hpp"
#include "services/host_files.hpp"
#include "services/settings.hpp"
#include "services/error.hpp"
#include "temp_dir.hpp"

namespace banger {
namespace {

using test::temp_dir;

void put(const std::string& path, const std::string& data, mode_t mode) {
  std::ofstream(path, std::ios::binary) << data;
  ::chmod(path.c_str(), mode);
}

TEST(HostFiles, EntriesMapToPathsUnderTheGuestHome) {
  host_file_rule r;
  ASSERT_EQ(parse_host_file_rule("~/.config/tool/auth.json", "/home/u", r), "");
  EXPECT_EQ(r.source, "/home/u/.config/tool/auth.json");
  EXPECT_EQ(r.dest, ".config/tool/auth.json");
  ASSERT_EQ(parse_host_file_rule("/home/u/.netrc", "/home/u", r), "");
  EXPECT_EQ(r.dest, ".netrc");
  ASSERT_EQ(parse_host_file_rule("/etc/tool.conf", "/home/u", r), "");
  EXPECT_EQ(r.dest, "tool.conf");
  ASSERT_EQ(parse_host_file_rule("/etc/tool.conf:~/.config/tool.conf", "/home/u", r), "");
  EXPECT_EQ(r.source, "/etc/tool.conf");
  EXPECT_EQ(r.dest, ".config/tool.conf");
  ASSERT_EQ(parse_host_file_rule("~/a b/c:x/y z", "/home/u", r), "");
  EXPECT_EQ(r.source, "/home/u/a b/c");
  EXPECT_EQ(r.dest, "x/y z");
  EXPECT_EQ(r.entry, "~/a b/c:x/y z");

  for (auto [entry, why] :
       {std::pair{"relative/file", "absolute path or start with ~/"},
        std::pair{"~user/x", "absolute path or start with ~/"},
        std::pair{"/etc/x:/etc/y", "not absolute"},
        std::pair{"/etc/x:../y", "\"..\" components"},
        std::pair{"/etc/x:", "is empty"},
        std::pair{"/:", "is empty"}}) {
    auto got = parse_host_file_rule(entry, "/home/u", r);
    EXPECT_NE(got.find(why), std::string::npos) << entry << ": " << got;
  }
}

TEST(HostFiles, CollectKeepsBytesAndModesAndSkipsWhatItCannotCopy) {
  temp_dir d;
  put(d.path() + "/auth.json", std::string("{\"k\":\"\0v\"}", 10), 0600);
  put(d.path() + "/script", "#!/bin/sh\n", 0755);
  put(d.path() + "/big", std::string(host_file_max_bytes + 1, 'x'), 0644);
  ::mkdir((d.path() + "/dir").c_str(), 0755);
  ::symlink("auth.json", (d.path() + "/link").c_str());
  std::vector<host_file_rule> rules;
  for (auto name : {"auth.json", "script", "big", "dir", "missing", "link"})
    rules.push_back({name, d.path() + "/" + name, std::string("c/") + name});
  auto got = collect_host_files(rules);
  EXPECT_EQ(got.files, 3u);
  ASSERT_EQ(got.notes.size(), 3u);
  EXPECT_NE(got.notes[0].find("/big: "), std::string::npos) << got.notes[0];
  EXPECT_NE(got.notes[0].find("over the limit"), std::string::npos);
  EXPECT_NE(got.notes[1].find("/dir: not a regular file"), std::string::npos);
  EXPECT_NE(got.notes[2].find("/missing: No such file"), std::string::npos);
  std::string why;
  auto files = host_files::decode(got.blob, why);
  ASSERT_TRUE(files) << why;
  ASSERT_EQ(files->size(), 3u);
  EXPECT_EQ((*files)[0].path, "c/auth.json");
  EXPECT_EQ((*files)[0].data, std::string("{\"k\":\"\0v\"}", 10));
  EXPECT_EQ((*files)[0].mode, 0600u);
  EXPECT_EQ((*files)[1].mode, 0755u);
  EXPECT_EQ((*files)[2].path, "c/link"); // the link's target, followed
  EXPECT_EQ((*files)[2].data, (*files)[0].data);

  EXPECT_TRUE(collect_host_files({}).blob.empty());
}

TEST(HostFiles, ConfigEntriesAreCheckedWithTheirLine) {
  temp_dir d;
  auto path = d.path() + "/config.toml";
  put(path, "[guest]\nfiles = [\"~/.netrc\", \"/etc/a:b\"]\n", 0644);
  settings s;
  auto ok = load_settings(path, s);
  ASSERT_TRUE(ok) << error_message(ok.error());
  EXPECT_EQ(s.guest_files, (std::vector<std::string>{"~/.netrc", "/etc/a:b"}));
  for (auto [text, line, why] :
       {std::tuple{"[guest]\n\nfiles = [\"rel\"]\n", ":3", "entry \"rel\""},
        std::tuple{"[guest]\nfiles = \"~/.netrc\"\n", ":2", "must be an array"},
        std::tuple{"[guest]\nfiles = [1]\n", ":2", "non-empty strings"},
        std::tuple{"[guest]\nfile = []\n", ":2", "file"}}) {
    put(path, text, 0644);
    settings t;
    auto bad = load_settings(path, t);
    ASSERT_FALSE(bad) << text;
    auto msg = error_message(bad.error());
    EXPECT_NE(msg.find(path + line), std::string::npos) << msg;
    EXPECT_NE(msg.find(why), std::string::npos) << msg;
  }
}

} // namespace
} // namespace banger
