// Pulls from Debian's real docker-registry on 127.0.0.1 (random port, temp
// storage), loaded by skopeo from OCI layouts this test writes itself: a
// multi-arch index (amd64 + arm64), an arm64-only index, a single manifest,
// gzip and zstd layers. Skips when docker-registry or skopeo is missing.

#include <signal.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "services/error.hpp"
#include "services/process.hpp"
#include "services/registry_client.hpp"
#include "test_util.hpp"

namespace banger {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace banger::test;

constexpr const char* mt_manifest =
    "application/vnd.oci.image.manifest.v1+json";
constexpr const char* mt_index = "application/vnd.oci.image.index.v1+json";
constexpr const char* mt_gzip = "application/vnd.oci.image.layer.v1.tar+gzip";
constexpr const char* mt_zstd = "application/vnd.oci.image.layer.v1.tar+zstd";

bool have_program(const std::string& name) {
  auto r = run({"sh", "-c", "command -v \"$0\"", name});
  return r && r->ok();
}

struct blob {
  std::string digest;
  std::string media_type;
  std::size_t size = 0;
};

// Writes OCI layouts: blobs, index.json with one tagged entry per tag.
class layout_writer {
public:
  explicit layout_writer(fs::path dir) : dir_(std::move(dir)) {
    write_file(dir_ / "oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  }

  blob add(const std::string& data, const std::string& media_type) {
    auto hex = sha256_hex(data);
    write_file(dir_ / "blobs" / "sha256" / hex, data);
    return {"sha256:" + hex, media_type, data.size()};
  }

  // A layer: a tar of one file, compressed by `tool` ("gzip" or "zstd").
  blob layer(const std::string& file, const std::string& content,
             const std::string& tool) {
    temp_dir t;
    write_file(t.path / "root" / file, content);
    auto tar = run({"tar", "--sort=name", "--mtime=@0", "--owner=0",
                    "--group=0", "-C", (t.path / "root").string(), "-cf",
                    (t.path / "l.tar").string(), "."});
    EXPECT_TRUE(tar && tar->ok()) << (tar ? tar->err : "tar failed to start");
    auto argv = tool == "gzip"
                    ? std::vector<std::string>{"gzip", "-n", "-c",
                                               (t.path / "l.tar").string()}
                    : std::vector<std::string>{"zstd", "-q", "-c",
                                               (t.path / "l.tar").string()};
    auto z = run(argv);
    EXPECT_TRUE(z && z->ok()) << tool;
    return add(z->out, tool == "gzip" ? mt_gzip : mt_zstd);
  }

  // An image manifest for `arch` over `layers`.
  blob image(const std::string& arch, const std::vector<blob>& layers) {
    json config{{"architecture", arch},
                {"os", "linux"},
                {"config", json::object()},
                {"rootfs", {{"type", "layers"}, {"diff_ids", json::array()}}}};
    auto c = add(config.dump(), "application/vnd.oci.image.config.v1+json");
    json m{{"schemaVersion", 2},
           {"mediaType", mt_manifest},
           {"config", desc(c)},
           {"layers", json::array()}};
    for (auto& l : layers)
      m["layers"].push_back(desc(l));
    return add(m.dump(), mt_manifest);
  }

  blob index(const std::vector<std::pair<blob, std::string>>& manifests) {
    json i{{"schemaVersion", 2},
           {"mediaType", mt_index},
           {"manifests", json::array()}};
    for (auto& [m, arch] : manifests) {
      auto d = desc(m);
      d["platform"] = {{"os", "linux"}, {"architecture", arch}};
      if (arch == "arm64")
        d["platform"]["variant"] = "v8";
      i["manifests"].push_back(d);
    }
    return add(i.dump(), mt_index);
  }

  void tag(const blob& b, const std::string& name) {
    auto d = desc(b);
    d["annotations"] = {{"org.opencontainers.image.ref.name", name}};
    top_["manifests"].push_back(d);
    write_file(dir_ / "index.json", top_.dump());
  }

  static json desc(const blob& b) {
    return {
        {"mediaType", b.media_type}, {"digest", b.digest}, {"size", b.size}};
  }

private:
  fs::path dir_;
  json top_{{"schemaVersion", 2}, {"manifests", json::array()}};
};

// One docker-registry for the whole suite, killed by PID at the end.
struct registry_env {
  std::string skip;
  std::unique_ptr<temp_dir> tmp;
  std::int64_t pid = 0;
  int port = 0;
  std::string host;
  // What the test wrote: amd64 layers (gzip, zstd), manifests, the corrupt
  // repository's last layer.
  std::vector<blob> amd64_layers;
  blob amd64_manifest, arm64_manifest, multi_index, corrupt_layer;

  std::string ref(const std::string& rest) const { return host + "/" + rest; }
};

registry_env* env = nullptr;

class registry_pull : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    env = new registry_env;
    for (auto prog : {"docker-registry", "skopeo", "tar", "gzip", "zstd"})
      if (!have_program(prog)) {
        env->skip = std::string(prog)
                    + " is not installed (scripts/deps.sh installs it)";
        return;
      }
    env->tmp = std::make_unique<temp_dir>();
    auto root = env->tmp->path;
    env->port = free_port();
    env->host = "127.0.0.1:" + std::to_string(env->port);
    write_file(root / "config.yml",
               "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n   "
               " rootdirectory: "
                   + (root / "storage").string()
                   + "\n  delete:\n    enabled: true\nhttp:\n  addr: "
                   + env->host + "\n");
    spawn_options so;
    so.stdout_path = (root / "registry.log").string();
    so.stderr_path = so.stdout_path;
    auto pid = spawn_detached(
        {"docker-registry", "serve", (root / "config.yml").string()}, so);
    if (!pid) {
      env->skip =
          "docker-registry did not start: " + error_message(pid.error());
      return;
    }
    env->pid = *pid;
    // Ready when /v2/ answers.
    bool up = false;
    for (int i = 0; i < 200 && !up; ++i) {
      up = port_open(env->port);
      if (!up)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (!up) {
      env->skip = "docker-registry did not listen on " + env->host + ": "
                  + read_file(root / "registry.log");
      return;
    }
    layout_writer w(root / "layout");
    env->amd64_layers = {
        w.layer("etc/hello", "hello from amd64\n", "gzip"),
        w.layer("etc/more", std::string(300000, 'z') + "amd64", "zstd")};
    env->amd64_manifest = w.image("amd64", env->amd64_layers);
    env->arm64_manifest =
        w.image("arm64", {w.layer("etc/hello", "hello from arm64\n", "gzip")});
    env->multi_index = w.index(
        {{env->amd64_manifest, "amd64"}, {env->arm64_manifest, "arm64"}});
    w.tag(env->multi_index, "multi");
    w.tag(w.index({{env->arm64_manifest, "arm64"}}), "armonly");
    w.tag(env->amd64_manifest, "single");
    layout_writer c(root / "corrupt-layout");
    auto first = c.layer("a", "first layer of the corrupt image\n", "gzip");
    env->corrupt_layer = c.layer("b", std::string(100000, 'c'), "gzip");
    c.tag(c.image("amd64", {first, env->corrupt_layer}), "v1");
    auto copy = [&](const fs::path& layout, const std::string& tag,
                    const std::string& repo) {
      run_options ro;
      ro.timeout = std::chrono::seconds(120);
      ro.env_extra = {"HOME=" + root.string()};
      auto r =
          run({"skopeo", "--insecure-policy", "copy", "--quiet", "--all",
               "--dest-tls-verify=false", "oci:" + layout.string() + ":" + tag,
               "docker://" + env->host + "/" + repo + ":" + tag},
              ro);
      if (!r || !r->ok())
        env->skip = "skopeo copy of " + tag
                    + " failed: " + (r ? r->err : error_message(r.error()));
      return r && r->ok();
    };
    copy(root / "layout", "multi", "test/img")
        && copy(root / "layout", "armonly", "test/img")
        && copy(root / "layout", "single", "test/img")
        && copy(root / "corrupt-layout", "v1", "test/corrupt");
    if (!env->skip.empty())
      env->skip = "setup failed, not a missing program: " + env->skip;
  }

  static void TearDownTestSuite() {
    if (env->pid > 0) {
      ::kill(static_cast<pid_t>(env->pid), SIGKILL);
      wait_pid_exit(env->pid, std::chrono::seconds(5));
    }
    delete env;
    env = nullptr;
  }

  void SetUp() override {
    if (env->skip.rfind("setup failed", 0) == 0)
      FAIL() << env->skip;
    if (!env->skip.empty())
      GTEST_SKIP() << env->skip;
  }

  caf::expected<pulled_image>
  pull(const std::string& text, const fs::path& out,
       std::function<void(const pull_progress&)> cb = {},
       std::atomic<bool>* cancel = nullptr) {
    auto ref = parse_oci_ref(text);
    EXPECT_TRUE(ref) << text;
    pull_options o;
    o.out_dir = out.string();
    o.platform = {"linux", "amd64", ""};
    o.docker_config = (env->tmp->path / "no-docker-config.json").string();
    o.on_progress = std::move(cb);
    o.cancel = cancel;
    return pull_image(*ref, o);
  }

  static void expect_amd64(const pulled_image& img) {
    EXPECT_EQ(img.os, "linux");
    EXPECT_EQ(img.architecture, "amd64");
    ASSERT_EQ(img.layers.size(), 2u);
    for (std::size_t i = 0; i < 2; ++i) {
      auto& l = img.layers[i];
      EXPECT_EQ(l.digest, env->amd64_layers[i].digest) << i;
      EXPECT_EQ(l.size, env->amd64_layers[i].size) << i;
      EXPECT_EQ(l.media_type, env->amd64_layers[i].media_type) << i;
      auto data = read_file(l.path);
      EXPECT_EQ(sha256_digest(data), l.digest) << l.path;
      EXPECT_EQ(data.size(), l.size);
    }
    EXPECT_EQ(img.layers[0].compression, layer_compression::gzip);
    EXPECT_EQ(img.layers[1].compression, layer_compression::zstd);
    auto config = read_file(img.config_path);
    EXPECT_EQ("sha256:" + fs::path(img.config_path).filename().string(),
              sha256_digest(config));
    EXPECT_EQ(sha256_digest(read_file(img.manifest_path)), img.manifest_digest);
  }
};

TEST_F(registry_pull, multi_arch_tag_picks_amd64_with_gzip_and_zstd_layers) {
  temp_dir out;
  std::vector<pull_progress> seen;
  auto img = pull(env->ref("test/img:multi"), out.path,
                  [&](const pull_progress& p) { seen.push_back(p); });
  ASSERT_TRUE(img) << error_message(img.error());
  expect_amd64(*img);
  EXPECT_EQ(img->manifest_digest, env->amd64_manifest.digest);
  EXPECT_EQ(fs::path(img->layers[0].path).parent_path(),
            out.path / "blobs" / "sha256");
  // Progress: per blob and overall, ending complete.
  ASSERT_FALSE(seen.empty());
  auto total = seen.back().overall_total;
  EXPECT_EQ(seen.back().overall_done, total);
  EXPECT_EQ(seen.back().layer, 1);
  EXPECT_EQ(seen.back().layer_count, 2);
  EXPECT_EQ(seen.back().blob_done, seen.back().blob_total);
  EXPECT_EQ(total, env->amd64_layers[0].size + env->amd64_layers[1].size
                       + fs::file_size(img->config_path));
  for (std::size_t i = 1; i < seen.size(); ++i)
    EXPECT_GE(seen[i].overall_done, seen[i - 1].overall_done);
}

TEST_F(registry_pull, by_manifest_digest_and_by_index_digest) {
  temp_dir out;
  auto by_manifest =
      pull(env->ref("test/img@" + env->amd64_manifest.digest), out.path);
  ASSERT_TRUE(by_manifest) << error_message(by_manifest.error());
  expect_amd64(*by_manifest);
  temp_dir out2;
  auto by_index =
      pull(env->ref("test/img:multi@" + env->multi_index.digest), out2.path);
  ASSERT_TRUE(by_index) << error_message(by_index.error());
  expect_amd64(*by_index);
}

TEST_F(registry_pull, single_manifest_tag) {
  temp_dir out;
  auto img = pull(env->ref("test/img:single"), out.path);
  ASSERT_TRUE(img) << error_message(img.error());
  expect_amd64(*img);
}

TEST_F(registry_pull, arm64_only_tag_names_the_platforms) {
  temp_dir out;
  auto img = pull(env->ref("test/img:armonly"), out.path);
  ASSERT_FALSE(img);
  EXPECT_EQ(error_code(img.error()), ec::not_found);
  auto msg = error_message(img.error());
  EXPECT_NE(msg.find(env->ref("test/img:armonly")), std::string::npos) << msg;
  EXPECT_NE(msg.find("linux/amd64"), std::string::npos) << msg;
  EXPECT_NE(msg.find("linux/arm64/v8"), std::string::npos) << msg;
  EXPECT_TRUE(files_under(out.path).empty());
}

TEST_F(registry_pull, missing_tag_is_not_found_naming_the_reference) {
  temp_dir out;
  auto img = pull(env->ref("test/img:nope"), out.path);
  ASSERT_FALSE(img);
  EXPECT_EQ(error_code(img.error()), ec::not_found)
      << error_message(img.error());
  EXPECT_NE(error_message(img.error()).find(env->ref("test/img:nope")),
            std::string::npos)
      << error_message(img.error());
  auto repo = pull(env->ref("test/absent:v1"), out.path);
  ASSERT_FALSE(repo);
  EXPECT_EQ(error_code(repo.error()), ec::not_found)
      << error_message(repo.error());
  EXPECT_TRUE(files_under(out.path).empty());
}

TEST_F(registry_pull, unknown_digest_is_not_found) {
  temp_dir out;
  auto img =
      pull(env->ref("test/img@sha256:" + std::string(64, 'e')), out.path);
  ASSERT_FALSE(img);
  EXPECT_EQ(error_code(img.error()), ec::not_found)
      << error_message(img.error());
}

TEST_F(registry_pull,
       corrupt_blob_on_registry_disk_is_a_digest_error_leaving_nothing) {
  auto hex = env->corrupt_layer.digest.substr(7);
  auto data = env->tmp->path / "storage" / "docker" / "registry" / "v2"
              / "blobs" / "sha256" / hex.substr(0, 2) / hex / "data";
  ASSERT_TRUE(fs::exists(data)) << data;
  auto bytes = read_file(data);
  bytes[bytes.size() / 2] ^= 0x55;
  write_file(data, bytes);
  temp_dir out;
  auto img = pull(env->ref("test/corrupt:v1"), out.path);
  ASSERT_FALSE(img) << "a corrupt layer was accepted";
  EXPECT_EQ(error_code(img.error()), ec::bad_state)
      << error_message(img.error());
  auto msg = error_message(img.error());
  EXPECT_NE(msg.find(env->ref("test/corrupt:v1")), std::string::npos) << msg;
  EXPECT_NE(msg.find("expected " + env->corrupt_layer.digest),
            std::string::npos)
      << msg;
  EXPECT_TRUE(files_under(out.path).empty()) << files_under(out.path).front();
}

TEST_F(registry_pull, cancel_stops_and_removes_what_was_written) {
  temp_dir out;
  std::atomic<bool> cancel{false};
  int calls = 0;
  auto img = pull(
      env->ref("test/img:multi"), out.path,
      [&](const pull_progress& p) {
        ++calls;
        if (p.layer == 1)
          cancel = true;
      },
      &cancel);
  ASSERT_FALSE(img);
  EXPECT_EQ(error_code(img.error()), ec::cancelled)
      << error_message(img.error());
  EXPECT_GT(calls, 0);
  EXPECT_TRUE(files_under(out.path).empty()) << files_under(out.path).front();
}

} // namespace
} // namespace banger
