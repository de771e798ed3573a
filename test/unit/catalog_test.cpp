// Catalog parsing and validation, relative URLs, loading and overriding.

#include "services/catalog.hpp"

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "services/error.hpp"
#include "test/unit/loopback_server.hpp"
#include "test/unit/temp_dir.hpp"

namespace banger {
namespace {

namespace fs = std::filesystem;
using test::temp_dir;

const std::string sha_a(64, 'a');
const std::string sha_b(64, 'b');

std::string entry(const std::string& name, const std::string& extra = "",
                  const std::string& arch = "amd64") {
  return R"({"name":")" + name + R"(","url":"https://h.example/)" + name
         + R"(.tar.zst","sha256":")" + sha_a + R"(","size":123,"arch":")" + arch
         + "\"" + extra + "}";
}

std::string catalog(const std::string& images,
                    const std::string& kernels = "") {
  return R"({"version":1,"images":[)" + images + R"(],"kernels":[)" + kernels
         + "]}";
}

void write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

TEST(Catalog, ParsesImagesAndKernels) {
  auto text = catalog(
      entry("debian",
            R"(,"kernel":"generic","version":"12","description":"d")"),
      R"({"name":"generic","url":"http://k.example/g.tar.zst","sha256":")"
          + std::string(64, 'C') + R"(","size":9,"arch":"arm64"})");
  auto r = parse_catalog(text, "/etc/banger/catalog.json");
  ASSERT_TRUE(r) << error_message(r.error());
  ASSERT_EQ(r->size(), 2u);
  auto& img = (*r)[0];
  EXPECT_EQ(img.kind, "image");
  EXPECT_EQ(img.name, "debian");
  EXPECT_EQ(img.url, "https://h.example/debian.tar.zst");
  EXPECT_EQ(img.sha256, sha_a);
  EXPECT_EQ(img.size, 123u);
  EXPECT_EQ(img.arch, "amd64");
  EXPECT_EQ(img.kernel, "generic");
  EXPECT_EQ(img.version, "12");
  EXPECT_EQ(img.description, "d");
  EXPECT_EQ(img.source, "/etc/banger/catalog.json");
  auto& k = (*r)[1];
  EXPECT_EQ(k.kind, "kernel");
  EXPECT_EQ(k.sha256, std::string(64, 'c')); // stored lowercase
  EXPECT_EQ(k.arch, "arm64");
}

struct bad_case {
  const char* what;
  std::string text;
  std::vector<std::string> expect; // substrings of the message
};

TEST(Catalog, RefusesMalformedCatalogsNamingSourceAndEntry) {
  std::vector<bad_case> cases{
      {"bad sha256",
       catalog(entry("deb", "").replace(entry("deb").find(sha_a), 64, "xyz")),
       {"image entry 1 (\"deb\")", "sha256 \"xyz\""}},
      {"missing url",
       catalog(R"({"name":"deb","sha256":")" + sha_a
               + R"(","size":1,"arch":"amd64"})"),
       {"image entry 1 (\"deb\")", "url is missing"}},
      {"bad name", catalog(entry("Deb_1")), {"invalid image name \"Deb_1\""}},
      {"duplicate",
       catalog(entry("deb") + "," + entry("deb")),
       {"image \"deb\" for amd64 is listed twice"}},
      {"unknown version",
       R"({"version":2,"images":[]})",
       {"version 2 is not supported"}},
      {"no version", R"({"images":[]})", {"\"version\" is missing"}},
      {"unknown key",
       catalog(entry("deb", R"(,"sha265":"x")")),
       {"unknown key \"sha265\""}},
      {"kernel key on a kernel",
       catalog("", entry("k", R"(,"kernel":"x")")),
       {"kernel entry 1 (\"k\")", "unknown key \"kernel\""}},
      {"bad arch",
       catalog(entry("deb", "", "x86_64")),
       {"arch \"x86_64\" must be"}},
      {"zero size",
       catalog(entry("deb").replace(entry("deb").find("123"), 3, "0")),
       {"size must be"}},
      {"negative size",
       catalog(entry("deb").replace(entry("deb").find("123"), 3, "-4")),
       {"size must be"}},
      {"bad kernel ref",
       catalog(entry("deb", R"(,"kernel":"A B")")),
       {"kernel: invalid kernel name"}},
      {"not json", "{\"version\":1,", {"not valid JSON"}},
      {"images not array",
       R"({"version":1,"images":{}})",
       {"must be an array"}},
      {"unknown top key",
       R"({"version":1,"image":[]})",
       {"unknown top-level key \"image\""}},
      {"ftp url",
       catalog(entry("deb").replace(entry("deb").find("https"), 5, "ftp")),
       {"scheme \"ftp\" is not supported"}},
  };
  for (auto& c : cases) {
    auto r = parse_catalog(c.text, "/srv/cat.json");
    ASSERT_FALSE(r) << c.what << " was accepted";
    EXPECT_EQ(error_code(r.error()), ec::invalid_argument) << c.what;
    auto msg = error_message(r.error());
    EXPECT_NE(msg.find("catalog /srv/cat.json"), std::string::npos)
        << c.what << ": " << msg;
    for (auto& e : c.expect)
      EXPECT_NE(msg.find(e), std::string::npos) << c.what << ": " << msg;
  }
}

TEST(Catalog, SameNameForTwoArchesIsFine) {
  auto r = parse_catalog(
      catalog(entry("deb") + "," + entry("deb", "", "arm64")), "/c.json");
  ASSERT_TRUE(r) << error_message(r.error());
  EXPECT_EQ(r->size(), 2u);
  auto arm = find_entry(*r, "image", "deb", "arm64");
  ASSERT_TRUE(arm);
  EXPECT_EQ(arm->arch, "arm64");
  EXPECT_TRUE(find_entry(*r, "image", "deb", ""));
  EXPECT_FALSE(find_entry(*r, "kernel", "deb", "amd64"));
  EXPECT_FALSE(find_entry(*r, "image", "debian", "amd64"));
}

std::string resolved(const std::string& source, const std::string& url) {
  auto text = catalog(R"({"name":"x","url":")" + url + R"(","sha256":")" + sha_a
                      + R"(","size":1,"arch":"amd64"})");
  auto r = parse_catalog(text, source);
  if (!r)
    return "error: " + error_message(r.error());
  return r->front().url;
}

TEST(Catalog, RelativeUrlsResolveAgainstTheCatalog) {
  EXPECT_EQ(resolved("/srv/cat/catalog.json", "b/x.tar.zst"),
            "/srv/cat/b/x.tar.zst");
  EXPECT_EQ(resolved("/srv/cat/catalog.json", "../b/./x.tar.zst"),
            "/srv/b/x.tar.zst");
  EXPECT_EQ(resolved("/srv/cat/catalog.json", "/abs/x"), "/abs/x");
  EXPECT_EQ(resolved("file:///srv/cat/catalog.json", "x.tar.zst"),
            "/srv/cat/x.tar.zst");
  EXPECT_EQ(resolved("https://h.example/a/b/catalog.json?sig=1", "x.tar.zst"),
            "https://h.example/a/b/x.tar.zst");
  EXPECT_EQ(resolved("https://h.example/a/b/catalog.json", "../c/x.tar.zst"),
            "https://h.example/a/c/x.tar.zst");
  EXPECT_EQ(resolved("https://h.example/a/b/catalog.json", "../../../x"),
            "https://h.example/x");
  EXPECT_EQ(resolved("https://h.example/a/catalog.json", "/top/x?v=2"),
            "https://h.example/top/x?v=2");
  EXPECT_EQ(resolved("https://h.example/a/catalog.json", "//cdn.example/x"),
            "https://cdn.example/x");
  EXPECT_EQ(resolved("http://h.example:8080", "x"), "http://h.example:8080/x");
  EXPECT_EQ(resolved("/srv/c.json", "https://o.example/x"),
            "https://o.example/x");
  // A remote catalog must not point at files on this host.
  auto r = resolved("https://h.example/c.json", "file:///etc/shadow");
  EXPECT_NE(r.find("names a local file"), std::string::npos) << r;
  EXPECT_EQ(resolved("/srv/c.json", "file:///srv/x"), "file:///srv/x");
}

TEST(Catalog, FileUrls) {
  EXPECT_EQ(file_url_path("file:///a%20b/c"), "/a b/c");
  EXPECT_EQ(file_url_path("file://localhost/x"), "/x");
  EXPECT_FALSE(file_url_path("file://other/x"));
  EXPECT_FALSE(file_url_path("http://h/x"));
  EXPECT_FALSE(file_url_path("/plain/path"));
}

TEST(Catalog, DefaultPathIsNextToTheProgram) {
  auto exe = fs::read_symlink("/proc/self/exe");
  auto expect =
      (exe.parent_path().parent_path() / "share" / "banger" / "catalog.json");
  EXPECT_EQ(default_catalog_path(), expect.string());
}

TEST(Catalog, LaterSourcesOverrideByKindAndName) {
  temp_dir tmp;
  auto builtin = tmp.path() + "/builtin.json";
  auto mine = tmp.path() + "/mine.json";
  write(builtin, catalog(entry("deb") + "," + entry("deb", "", "arm64") + ","
                             + entry("alpine"),
                         entry("generic")));
  write(mine, catalog(entry("deb", R"(,"version":"mine")")));
  catalog_load_options o;
  o.builtin = builtin;
  auto r = load_catalogs({mine}, o);
  ASSERT_TRUE(r) << error_message(r.error());
  ASSERT_EQ(r->size(), 3u);
  // Sorted by kind, name, arch; deb comes only from mine (arm64 dropped).
  EXPECT_EQ((*r)[0].name, "alpine");
  EXPECT_EQ((*r)[0].source, builtin);
  EXPECT_EQ((*r)[1].name, "deb");
  EXPECT_EQ((*r)[1].version, "mine");
  EXPECT_EQ((*r)[1].source, mine);
  EXPECT_EQ((*r)[2].kind, "kernel");
  EXPECT_FALSE(find_entry(*r, "image", "deb", "arm64"));
}

TEST(Catalog, MissingBuiltinIsFineMissingSourceIsNot) {
  temp_dir tmp;
  auto mine = tmp.path() + "/mine.json";
  write(mine, catalog(entry("deb")));
  catalog_load_options o;
  o.builtin = tmp.path() + "/nope/catalog.json";
  auto r = load_catalogs({mine}, o);
  ASSERT_TRUE(r) << error_message(r.error());
  EXPECT_EQ(r->size(), 1u);
  auto missing = tmp.path() + "/missing.json";
  auto bad = load_catalogs({mine, missing}, o);
  ASSERT_FALSE(bad);
  EXPECT_EQ(error_code(bad.error()), ec::not_found);
  EXPECT_NE(error_message(bad.error()).find(missing), std::string::npos);
  // A malformed built-in catalog is an error, not silently skipped.
  write(o.builtin = tmp.path() + "/broken.json", "{");
  auto broken = load_catalogs({}, o);
  ASSERT_FALSE(broken);
  EXPECT_NE(error_message(broken.error()).find("broken.json"),
            std::string::npos);
}

TEST(Catalog, RefusesUnsupportedSources) {
  catalog_load_options o;
  o.builtin.clear();
  auto r = load_catalogs({"ftp://h.example/c.json"}, o);
  ASSERT_FALSE(r);
  EXPECT_EQ(error_code(r.error()), ec::invalid_argument);
  temp_dir tmp;
  auto d = load_catalogs({tmp.path()}, o);
  ASSERT_FALSE(d);
  EXPECT_NE(error_message(d.error()).find("is a directory"), std::string::npos);
}

TEST(Catalog, LoadsOverHttpAndResolvesAgainstTheUrl) {
  test::loopback_server server;
  server.srv.Get("/pub/catalog.json", [](const auto&, httplib::Response& res) {
    res.set_content(catalog(R"({"name":"deb","url":"bundles/deb.tar.zst",)"
                            R"("sha256":")"
                            + sha_a + R"(","size":5,"arch":"amd64"})"),
                    "application/json");
  });
  server.srv.Get("/moved.json", [](const auto&, httplib::Response& res) {
    res.set_redirect("/pub/catalog.json");
  });
  server.start();
  catalog_load_options o;
  o.builtin.clear();
  auto r = load_catalogs({server.origin() + "/moved.json"}, o);
  ASSERT_TRUE(r) << error_message(r.error());
  ASSERT_EQ(r->size(), 1u);
  // Resolved against the URL as configured (the redirect is transport).
  EXPECT_EQ(r->front().url, server.origin() + "/bundles/deb.tar.zst");
  auto missing = load_catalogs({server.origin() + "/nope.json"}, o);
  ASSERT_FALSE(missing);
  EXPECT_EQ(error_code(missing.error()), ec::not_found);
  EXPECT_NE(error_message(missing.error()).find("HTTP 404"), std::string::npos);
}

TEST(Catalog, UnreachableServerIsUnavailable) {
  int port = 0;
  {
    test::loopback_server gone; // bound then closed: nothing listens there
    gone.start();
    port = gone.port;
  }
  catalog_load_options o;
  o.builtin.clear();
  o.connect_timeout = std::chrono::seconds{2};
  auto url = "http://127.0.0.1:" + std::to_string(port) + "/c.json";
  auto r = load_catalogs({url}, o);
  ASSERT_FALSE(r);
  EXPECT_EQ(error_code(r.error()), ec::unavailable);
  EXPECT_NE(error_message(r.error()).find(url), std::string::npos);
}

} // namespace
} // namespace banger
