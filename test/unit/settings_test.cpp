#include <filesystem>
#include <fstream>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

#include "services/error.hpp"
#include "services/settings.hpp"

namespace banger {
namespace {

struct temp_file {
  std::string path;
  explicit temp_file(const std::string& text) {
    path = (std::filesystem::temp_directory_path()
            / ("banger-settings-" + std::to_string(::getpid()) + ".toml"))
             .string();
    std::ofstream(path) << text;
  }
  ~temp_file() { std::filesystem::remove(path); }
};

TEST(Settings, MissingFileKeepsDefaults) {
  settings s;
  ASSERT_TRUE(load_settings("/nonexistent/banger/config.toml", s));
  EXPECT_EQ(s.network.bridge, "banger0");
  EXPECT_EQ(s.network.subnet, "172.16.0.0/24");
  EXPECT_EQ(s.vm.stop_timeout_s, 10u);
}

TEST(Settings, FileOverridesWhatItNames) {
  temp_file f("[network]\nbridge = \"bt0\"\nsubnet = \"10.44.0.0/24\"\n"
              "tap_pool = 0\n[vm]\nboot_timeout = 30\n");
  settings s;
  auto ok = load_settings(f.path, s);
  ASSERT_TRUE(ok) << error_message(ok.error());
  EXPECT_EQ(s.network.bridge, "bt0");
  EXPECT_EQ(s.network.subnet, "10.44.0.0/24");
  EXPECT_EQ(s.network.tap_pool, 0u);
  EXPECT_EQ(s.vm.boot_timeout_s, 30u);
  EXPECT_EQ(s.vm.stop_timeout_s, 10u);
}

TEST(Settings, UnknownKeyNamesFileLineAndKey) {
  temp_file f("[network]\nbridge = \"bt0\"\nbrige = \"x\"\n");
  settings s;
  auto ok = load_settings(f.path, s);
  ASSERT_FALSE(ok);
  auto msg = error_message(ok.error());
  EXPECT_NE(msg.find(f.path + ":3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[network] brige"), std::string::npos) << msg;
}

TEST(Settings, WrongTypeAndRangeAreErrors) {
  {
    temp_file f("[network]\ntap_pool = \"two\"\n");
    settings s;
    EXPECT_FALSE(load_settings(f.path, s));
  }
  {
    temp_file f("[vm]\nstop_timeout = 0\n");
    settings s;
    auto ok = load_settings(f.path, s);
    ASSERT_FALSE(ok);
    EXPECT_NE(error_message(ok.error()).find("from 1 to 3600"), std::string::npos);
  }
}

TEST(Settings, VmDefaultsFromTheFile) {
  {
    settings s;
    EXPECT_EQ(s.vm.vcpu, 1u);
    EXPECT_EQ(s.vm.memory_mib, 256u);
    EXPECT_EQ(s.vm.disk_size, "8G");
    EXPECT_EQ(s.vm.accel, "auto");
    temp_file f("[vm]\nvcpu = 2\nmemory = 1024\ndisk_size = \"20G\"\naccel = \"tcg\"\n");
    auto ok = load_settings(f.path, s);
    ASSERT_TRUE(ok) << error_message(ok.error());
    EXPECT_EQ(s.vm.vcpu, 2u);
    EXPECT_EQ(s.vm.memory_mib, 1024u);
    EXPECT_EQ(s.vm.disk_size, "20G");
    EXPECT_EQ(s.vm.accel, "tcg");
  }
  for (auto [text, line, why] :
       {std::tuple{"[vm]\nvcpu = 0\n", ":2", "from 1 to 64"},
        std::tuple{"[vm]\nmemory = 32\n", ":2", "from 64 to 65536"},
        std::tuple{"[vm]\n\ndisk_size = \"lots\"\n", ":3", "a size like"},
        std::tuple{"[vm]\ndisk_size = \"1M\"\n", ":2", "out of range"},
        std::tuple{"[vm]\ndisk_size = 8\n", ":2", "must be a string"},
        std::tuple{"[vm]\n\n\naccel = \"hvf\"\n", ":4", "\"auto\", \"kvm\" or \"tcg\", not \"hvf\""}}) {
    temp_file f(text);
    settings s;
    auto ok = load_settings(f.path, s);
    ASSERT_FALSE(ok) << text;
    auto msg = error_message(ok.error());
    EXPECT_NE(msg.find(f.path + line), std::string::npos) << msg;
    EXPECT_NE(msg.find(why), std::string::npos) << msg;
  }
}

TEST(Settings, SyntaxErrorNamesTheLine) {
  temp_file f("[network]\nbridge = \n");
  settings s;
  auto ok = load_settings(f.path, s);
  ASSERT_FALSE(ok);
  EXPECT_NE(error_message(ok.error()).find(f.path + ":2"), std::string::npos)
    << error_message(ok.error());
}

TEST(Settings, BridgeTakesTheSubnetsFirstHost) {
  network_settings n;
  n.subnet = "10.77.3.0/24";
  auto b = bridge_address(n);
  ASSERT_TRUE(b);
  EXPECT_EQ(to_string(*b), "10.77.3.1/24");
  EXPECT_EQ(dns_listen_address(n, *b), "10.77.3.1:53");
  n.dns = "127.0.0.1:5353";
  EXPECT_EQ(dns_listen_address(n, *b), "127.0.0.1:5353");
}

TEST(Settings, BadSubnetsAreRefusedWithAHint) {
  network_settings n;
  n.subnet = "10.77.3.5/24";
  auto b = bridge_address(n);
  ASSERT_FALSE(b);
  EXPECT_NE(error_message(b.error()).find("10.77.3.0/24"), std::string::npos);
  n.subnet = "10.0.0.0/31";
  EXPECT_FALSE(bridge_address(n));
  n.subnet = "nonsense";
  EXPECT_FALSE(bridge_address(n));
  n.subnet = "10.0.0.0/24";
  n.bridge = "Bad Name";
  EXPECT_FALSE(bridge_address(n));
}

TEST(Settings, CatalogSourcesKeepOrderAndResolveRelativePaths) {
  temp_file f("[catalog]\nsources = [\"https://c.example/catalog.json\", "
              "\"file:///srv/c.json\", \"/abs/c.json\", \"rel/c.json\"]\n");
  settings s;
  EXPECT_TRUE(s.catalog_sources.empty());
  auto ok = load_settings(f.path, s);
  ASSERT_TRUE(ok) << error_message(ok.error());
  auto dir = std::filesystem::path(f.path).parent_path();
  EXPECT_EQ(s.catalog_sources,
            (std::vector<std::string>{"https://c.example/catalog.json",
                                      "file:///srv/c.json", "/abs/c.json",
                                      (dir / "rel/c.json").string()}));
}

TEST(Settings, BadCatalogSourcesNameTheKey) {
  for (auto text : {"[catalog]\nsources = \"https://c.example/c.json\"\n",
                    "[catalog]\nsources = [1]\n",
                    "[catalog]\nsources = [\"\"]\n",
                    "[catalog]\nsources = [\"ftp://h/c.json\"]\n",
                    "[catalog]\nsource = []\n"}) {
    temp_file f(text);
    settings s;
    auto ok = load_settings(f.path, s);
    ASSERT_FALSE(ok) << text;
    auto msg = error_message(ok.error());
    EXPECT_NE(msg.find(f.path + ":"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[catalog] source"), std::string::npos) << msg;
    EXPECT_TRUE(s.catalog_sources.empty()) << text;
  }
}

} // namespace
} // namespace banger
