// The pull client against tiny cpp-httplib registries on 127.0.0.1: bearer
// token auth with docker-config credentials, Basic auth, redirects of blobs
// to another host (without our Authorization), 5xx, truncated bodies, a
// manifest that does not match its digest, and a registry that is not there.

#include <signal.h>
#include <sys/resource.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "services/error.hpp"
#include "services/registry_client.hpp"
#include "test/unit/loopback_server.hpp"
#include "test_util.hpp"

namespace banger {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace banger::test;

struct image_bytes {
  std::string layer = std::string(200000, 'L') + "layer";
  std::string config =
      R"({"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}})";
  std::string manifest;
  image_bytes() {
    json m{
        {"schemaVersion", 2},
        {"mediaType", "application/vnd.docker.distribution.manifest.v2+json"},
        {"config",
         {{"mediaType", "application/vnd.docker.container.image.v1+json"},
          {"digest", sha256_digest(config)},
          {"size", config.size()}}},
        {"layers",
         {{{"mediaType", "application/vnd.docker.image.rootfs.diff.tar.gzip"},
           {"digest", sha256_digest(layer)},
           {"size", layer.size()}}}}};
    manifest = m.dump();
  }
};

class fake_registry : public ::testing::Test {
protected:
  image_bytes img;
  loopback_server reg;     // the registry (and its token endpoint)
  loopback_server storage; // where blobs are redirected to
  loopback_server elsewhere; // a token service on another host (port)
  temp_dir tmp;
  std::mutex mu;
  // Recorded requests.
  int token_requests = 0;
  std::string token_authorization, token_service, token_scope;
  std::vector<std::string> storage_authorization;
  std::vector<std::string> registry_authorization;
  // Behaviour switches.
  std::string auth_mode = "bearer"; // "bearer", "basic", "none"
  bool token_server_refuses = false;
  int manifest_status = 200;
  bool truncate_layer = false;
  bool wrong_manifest_for_digest = false;
  bool lying_content_digest = false;
  std::string manifest_override; // served instead of img.manifest
  bool realm_elsewhere = false;   // the challenge names `elsewhere`
  bool elsewhere_refuses_anonymous = false;
  std::string elsewhere_authorization = "(no request)";
  // Bodies that go on (up to 256 MiB) for the token or the manifest.
  bool endless_token = false;
  bool endless_manifest = false;

  std::string challenge() const {
    return R"(Bearer realm=")" + (realm_elsewhere ? elsewhere.origin() : reg.origin())
           + R"(/token",service="fake-registry",scope="repository:auth/img:pull")";
  }

  bool authorized(const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock{mu};
    registry_authorization.push_back(req.get_header_value("Authorization"));
    auto got = req.get_header_value("Authorization");
    if (auth_mode == "bearer" && got != "Bearer tok-123") {
      res.status = 401;
      res.set_header("WWW-Authenticate", challenge());
      res.set_content(
          R"({"errors":[{"code":"UNAUTHORIZED","message":"auth required"}]})",
          "application/json");
      return false;
    }
    // base64("alice:s3cret") = YWxpY2U6czNjcmV0
    if (auth_mode == "basic" && got != "Basic YWxpY2U6czNjcmV0") {
      res.status = 401;
      res.set_header("WWW-Authenticate", R"(Basic realm="fake")");
      return false;
    }
    return true;
  }

  // 256 MiB of '{' in 64 KiB chunks, without a length.
  static void endless(httplib::Response& res) {
    res.set_chunked_content_provider(
        "application/json", [](std::size_t offset, httplib::DataSink& sink) {
          static const std::string chunk(64 << 10, '{');
          if (offset >= (256u << 20)) {
            sink.done();
            return true;
          }
          return sink.write(chunk.data(), chunk.size());
        });
  }

  void SetUp() override {
    elsewhere.srv.Get(
        "/token", [this](const httplib::Request& req, httplib::Response& res) {
          std::lock_guard lock{mu};
          elsewhere_authorization = req.get_header_value("Authorization");
          if (elsewhere_refuses_anonymous && elsewhere_authorization.empty()) {
            res.status = 401;
            res.set_content(R"({"errors":[{"code":"DENIED","message":"login first"}]})",
                            "application/json");
            return;
          }
          res.set_content(R"({"token":"tok-123"})", "application/json");
        });
    reg.srv.Get(
        "/token", [this](const httplib::Request& req, httplib::Response& res) {
          if (endless_token) {
            endless(res);
            return;
          }
          std::lock_guard lock{mu};
          ++token_requests;
          token_authorization = req.get_header_value("Authorization");
          token_service = req.get_param_value("service");
          token_scope = req.get_param_value("scope");
          if (token_server_refuses) {
            res.status = 401;
            res.set_content(
                R"({"errors":[{"code":"DENIED","message":"bad login"}]})",
                "application/json");
            return;
          }
          res.set_content(R"({"token":"tok-123","expires_in":300})",
                          "application/json");
        });
    reg.srv.Get(
        R"(/v2/auth/img/manifests/(.+))",
        [this](const httplib::Request& req, httplib::Response& res) {
          if (!authorized(req, res))
            return;
          if (endless_manifest) {
            endless(res);
            return;
          }
          if (manifest_status != 200) {
            res.status = manifest_status;
            res.set_content("upstream exploded", "text/plain");
            return;
          }
          auto body =
              manifest_override.empty() ? img.manifest : manifest_override;
          if (wrong_manifest_for_digest
              && req.matches[1].str().rfind("sha256:", 0) == 0)
            body += " ";
          if (lying_content_digest)
            res.set_header("Docker-Content-Digest", sha256_digest(body + "x"));
          res.set_content(
              body, "application/vnd.docker.distribution.manifest.v2+json");
        });
    reg.srv.Get(
        R"(/v2/auth/img/blobs/(sha256:[0-9a-f]+))",
        [this](const httplib::Request& req, httplib::Response& res) {
          if (!authorized(req, res))
            return;
          auto d = req.matches[1].str();
          if (d == sha256_digest(img.config)) {
            res.set_content(img.config, "application/octet-stream");
            return;
          }
          if (d == sha256_digest(img.layer)) {
            res.status = 307;
            res.set_header("Location", storage.origin() + "/store/"
                                           + d.substr(7) + "?sig=abc");
            return;
          }
          res.status = 404;
          res.set_content(
              R"({"errors":[{"code":"BLOB_UNKNOWN","message":"unknown"}]})",
              "application/json");
        });
    storage.srv.Get(R"(/store/([0-9a-f]+))", [this](const httplib::Request& req,
                                                    httplib::Response& res) {
      {
        std::lock_guard lock{mu};
        storage_authorization.push_back(req.get_header_value("Authorization"));
      }
      if (req.get_param_value("sig") != "abc"
          || req.matches[1].str() != sha256_hex(img.layer)) {
        res.status = 403;
        return;
      }
      if (!truncate_layer) {
        res.set_content(img.layer, "application/octet-stream");
        return;
      }
      // Announce the whole length, send half, hang up.
      auto half = img.layer.substr(0, img.layer.size() / 2);
      res.set_content_provider(
          img.layer.size(), "application/octet-stream",
          [half](std::size_t offset, std::size_t, httplib::DataSink& sink) {
            if (offset >= half.size())
              return false;
            sink.write(half.data() + offset, half.size() - offset);
            return true;
          });
    });
    reg.start();
    storage.start();
    elsewhere.start();
    // base64("alice:s3cret")
    write_file(tmp.path / "docker" / "config.json",
               R"({"auths":{"127.0.0.1:)" + std::to_string(reg.port)
                   + R"(":{"auth":"YWxpY2U6czNjcmV0"}}})");
  }

  std::string ref_text(const std::string& tail = ":v1") const {
    return "127.0.0.1:" + std::to_string(reg.port) + "/auth/img" + tail;
  }

  caf::expected<pulled_image>
  pull(const std::string& text, const fs::path& out, bool with_config = true,
       std::function<void(const pull_progress&)> cb = {}) {
    auto ref = parse_oci_ref(text);
    EXPECT_TRUE(ref);
    pull_options o;
    o.out_dir = out.string();
    o.platform = {"linux", "amd64", ""};
    o.docker_config = with_config
                          ? (tmp.path / "docker" / "config.json").string()
                          : (tmp.path / "none.json").string();
    o.connect_timeout = std::chrono::seconds(5);
    o.read_timeout = std::chrono::seconds(5);
    o.on_progress = std::move(cb);
    return pull_image(*ref, o);
  }
};

TEST_F(fake_registry, bearer_token_from_challenge_with_config_credentials) {
  temp_dir out;
  auto r = pull(ref_text(), out.path);
  ASSERT_TRUE(r) << error_message(r.error());
  EXPECT_EQ(token_requests, 1) << "the token is fetched once and reused";
  EXPECT_EQ(token_service, "fake-registry");
  EXPECT_EQ(token_scope, "repository:auth/img:pull");
  EXPECT_EQ(token_authorization, "Basic YWxpY2U6czNjcmV0");
  // Only the first request went without the token.
  ASSERT_GE(registry_authorization.size(), 3u);
  EXPECT_EQ(registry_authorization.front(), "");
  for (std::size_t i = 1; i < registry_authorization.size(); ++i)
    EXPECT_EQ(registry_authorization[i], "Bearer tok-123") << i;
  ASSERT_EQ(r->layers.size(), 1u);
  EXPECT_EQ(r->layers[0].digest, sha256_digest(img.layer));
  EXPECT_EQ(r->layers[0].compression, layer_compression::gzip);
  EXPECT_EQ(read_file(r->layers[0].path), img.layer);
  EXPECT_EQ(read_file(r->config_path), img.config);
  EXPECT_EQ(r->manifest_digest, sha256_digest(img.manifest));
  EXPECT_EQ(r->architecture, "amd64");
}

TEST_F(fake_registry, anonymous_token_without_credentials) {
  temp_dir out;
  auto r = pull(ref_text(), out.path, false);
  ASSERT_TRUE(r) << error_message(r.error());
  EXPECT_EQ(token_requests, 1);
  EXPECT_EQ(token_authorization, "");
}

TEST_F(fake_registry,
       redirected_blob_goes_to_the_other_host_without_our_token) {
  temp_dir out;
  auto r = pull(ref_text(), out.path);
  ASSERT_TRUE(r) << error_message(r.error());
  ASSERT_EQ(storage_authorization.size(), 1u)
      << "the layer was not fetched from storage";
  EXPECT_EQ(storage_authorization[0], "");
}

TEST_F(fake_registry, basic_auth_challenge_uses_config_credentials) {
  auth_mode = "basic";
  temp_dir out;
  auto r = pull(ref_text(), out.path);
  ASSERT_TRUE(r) << error_message(r.error());
  EXPECT_EQ(token_requests, 0);
  EXPECT_EQ(registry_authorization.back(), "Basic YWxpY2U6czNjcmV0");
  temp_dir out2;
  auto anon = pull(ref_text(), out2.path, false);
  ASSERT_FALSE(anon);
  EXPECT_EQ(error_code(anon.error()), ec::protocol);
  EXPECT_NE(error_message(anon.error()).find("credentials"), std::string::npos);
}

TEST_F(fake_registry, refused_token_is_an_error_naming_the_reference) {
  token_server_refuses = true;
  temp_dir out;
  auto r = pull(ref_text(), out.path);
  ASSERT_FALSE(r);
  EXPECT_EQ(error_code(r.error()), ec::protocol);
  auto msg = error_message(r.error());
  EXPECT_NE(msg.find(ref_text()), std::string::npos) << msg;
  EXPECT_NE(msg.find("bad login"), std::string::npos) << msg;
}

// The docker config holds a password for 127.0.0.1:<reg port>; a registry
// that names a token service elsewhere (another port is another host) must
// not get it sent there.
TEST_F(fake_registry, credentials_never_go_to_a_token_realm_on_another_host) {
  realm_elsewhere = true;
  temp_dir out;
  auto r = pull(ref_text(), out.path);
  ASSERT_TRUE(r) << error_message(r.error());
  EXPECT_EQ(elsewhere_authorization, "") << "the password went to another host";
  // The registry's own token service still gets them.
  realm_elsewhere = false;
  temp_dir out2;
  ASSERT_TRUE(pull(ref_text(), out2.path));
  EXPECT_EQ(token_authorization, "Basic YWxpY2U6czNjcmV0");
}

TEST_F(fake_registry, a_realm_elsewhere_that_wants_a_login_says_why_none_was_sent) {
  realm_elsewhere = true;
  elsewhere_refuses_anonymous = true;
  temp_dir out;
  auto r = pull(ref_text(), out.path);
  ASSERT_FALSE(r);
  EXPECT_EQ(error_code(r.error()), ec::protocol);
  auto msg = error_message(r.error());
  EXPECT_NE(msg.find("login first"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did not send it the credentials"), std::string::npos) << msg;
  EXPECT_EQ(elsewhere_authorization, "");
}

TEST_F(fake_registry, an_endless_token_answer_is_cut_at_its_cap) {
  endless_token = true;
  temp_dir out;
  auto r = pull(ref_text(), out.path);
  ASSERT_FALSE(r);
  EXPECT_EQ(error_code(r.error()), ec::protocol) << error_message(r.error());
  EXPECT_NE(error_message(r.error()).find("larger than 4194304 bytes"), std::string::npos)
      << error_message(r.error());
  EXPECT_TRUE(files_under(out.path).empty());
}

TEST_F(fake_registry, an_endless_manifest_is_cut_at_its_cap) {
  auth_mode = "none";
  endless_manifest = true;
  temp_dir out;
  auto r = pull(ref_text(), out.path);
  ASSERT_FALSE(r);
  EXPECT_EQ(error_code(r.error()), ec::protocol) << error_message(r.error());
  EXPECT_NE(error_message(r.error()).find("larger than 4194304 bytes"), std::string::npos)
      << error_message(r.error());
}

TEST_F(fake_registry, a_huge_config_descriptor_is_refused_before_downloading) {
  auth_mode = "none";
  json m = json::parse(img.manifest);
  m["config"]["size"] = 1ll << 40;
  manifest_override = m.dump();
  temp_dir out;
  auto r = pull(ref_text(), out.path);
  ASSERT_FALSE(r);
  EXPECT_EQ(error_code(r.error()), ec::protocol) << error_message(r.error());
  EXPECT_NE(error_message(r.error()).find("more than the 16777216 banger reads"),
            std::string::npos)
      << error_message(r.error());
}

TEST_F(fake_registry, server_error_is_unavailable) {
  manifest_status = 503;
  temp_dir out;
  auto r = pull(ref_text(), out.path);
  ASSERT_FALSE(r);
  EXPECT_EQ(error_code(r.error()), ec::unavailable) << error_message(r.error());
  EXPECT_NE(error_message(r.error()).find("503"), std::string::npos);
  EXPECT_NE(error_message(r.error()).find(ref_text()), std::string::npos);
}

TEST_F(fake_registry, truncated_layer_is_an_error_leaving_nothing) {
  truncate_layer = true;
  temp_dir out;
  auto r = pull(ref_text(), out.path);
  ASSERT_FALSE(r) << "a truncated layer was accepted";
  EXPECT_EQ(error_code(r.error()), ec::bad_state) << error_message(r.error());
  EXPECT_NE(error_message(r.error()).find(ref_text()), std::string::npos);
  EXPECT_TRUE(files_under(out.path).empty()) << files_under(out.path).front();
}

TEST_F(fake_registry, manifest_not_matching_its_digest_is_refused) {
  wrong_manifest_for_digest = true;
  temp_dir out;
  auto text = ref_text("@" + sha256_digest(img.manifest));
  auto r = pull(text, out.path);
  ASSERT_FALSE(r) << "a manifest with the wrong digest was accepted";
  EXPECT_EQ(error_code(r.error()), ec::bad_state) << error_message(r.error());
  EXPECT_NE(error_message(r.error()).find(sha256_digest(img.manifest)),
            std::string::npos);
  EXPECT_TRUE(files_under(out.path).empty());
}

TEST_F(fake_registry, manifest_not_matching_docker_content_digest_is_refused) {
  lying_content_digest = true;
  temp_dir out;
  auto r = pull(ref_text(), out.path);
  ASSERT_FALSE(r) << "a manifest the registry disowns was accepted";
  EXPECT_EQ(error_code(r.error()), ec::bad_state) << error_message(r.error());
  EXPECT_NE(error_message(r.error()).find("Docker-Content-Digest"),
            std::string::npos);
  EXPECT_TRUE(files_under(out.path).empty());
}

TEST_F(fake_registry, schema1_manifest_is_refused_as_unsupported) {
  manifest_override =
      R"({"schemaVersion":1,"name":"auth/img","tag":"v1","fsLayers":[]})";
  temp_dir out;
  auto r = pull(ref_text(), out.path);
  ASSERT_FALSE(r);
  EXPECT_EQ(error_code(r.error()), ec::invalid_argument)
      << error_message(r.error());
  EXPECT_NE(error_message(r.error()).find(ref_text()), std::string::npos);
}

TEST_F(fake_registry, unknown_layer_type_is_refused_before_downloading) {
  auto m = json::parse(img.manifest);
  m["layers"][0]["mediaType"] = "application/vnd.example.squashfs";
  manifest_override = m.dump();
  temp_dir out;
  auto r = pull(ref_text(), out.path);
  ASSERT_FALSE(r);
  EXPECT_EQ(error_code(r.error()), ec::invalid_argument)
      << error_message(r.error());
  EXPECT_NE(error_message(r.error()).find("application/vnd.example.squashfs"),
            std::string::npos);
  EXPECT_TRUE(storage_authorization.empty());
  EXPECT_TRUE(files_under(out.path).empty());
}

TEST_F(fake_registry, existing_verified_blobs_are_kept_and_reused) {
  temp_dir out;
  auto first = pull(ref_text(), out.path);
  ASSERT_TRUE(first) << error_message(first.error());
  std::vector<pull_progress> seen;
  auto second = pull(ref_text(), out.path, true,
                     [&](const pull_progress& p) { seen.push_back(p); });
  ASSERT_TRUE(second) << error_message(second.error());
  EXPECT_EQ(storage_authorization.size(), 1u)
      << "the verified layer was downloaded again";
  // Reused blobs still report, so a progress bar reaches its end.
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen.back().layer, 0);
  EXPECT_EQ(seen.back().overall_done, seen.back().overall_total);
  EXPECT_EQ(seen.back().overall_total, img.layer.size() + img.config.size());
  // A later failure does not delete blobs an earlier pull left.
  manifest_status = 500;
  auto third = pull(ref_text(), out.path);
  ASSERT_FALSE(third);
  EXPECT_TRUE(fs::exists(first->layers[0].path));
}

// A write error (the disk filling up) fails the pull and leaves nothing. The
// file size limit stands in for a full disk: writes past it fail (EFBIG)
// like they do with ENOSPC, without filling a real filesystem.
TEST_F(fake_registry, write_error_fails_and_leaves_nothing) {
  temp_dir out;
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  rlimit small = old;
  small.rlim_cur = 64 * 1024; // the layer has 200 KB
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  auto r = pull(ref_text(), out.path);
  ::setrlimit(RLIMIT_FSIZE, &old);
  ::signal(SIGXFSZ, old_handler);
  ASSERT_FALSE(r) << "a short write was accepted";
  EXPECT_EQ(error_code(r.error()), ec::internal) << error_message(r.error());
  auto msg = error_message(r.error());
  EXPECT_NE(msg.find(ref_text()), std::string::npos) << msg;
  EXPECT_NE(msg.find("writing layer 1"), std::string::npos) << msg;
  EXPECT_TRUE(files_under(out.path).empty()) << files_under(out.path).front();
}

TEST(registry_unreachable, not_running_is_unavailable_naming_the_reference) {
  temp_dir out;
  auto text = "127.0.0.1:" + std::to_string(free_port()) + "/test/img:multi";
  pull_options o;
  o.out_dir = out.path.string();
  o.docker_config = (out.path / "none.json").string();
  auto r = pull_image(*parse_oci_ref(text), o);
  ASSERT_FALSE(r);
  EXPECT_EQ(error_code(r.error()), ec::unavailable) << error_message(r.error());
  EXPECT_NE(error_message(r.error()).find(text), std::string::npos)
      << error_message(r.error());
  EXPECT_TRUE(files_under(out.path).empty());
}

TEST(registry_scheme, https_unless_loopback_or_listed_insecure) {
  // "127.1" is 127.0.0.1 to the resolver but not a name the client treats as
  // loopback: it dials https (our plain-http fake cannot answer that) until
  // the registry is listed as insecure.
  loopback_server s;
  std::atomic<int> hits{0};
  s.srv.Get(R"(/v2/.*)", [&](const httplib::Request&, httplib::Response& res) {
    ++hits;
    res.status = 404;
  });
  s.start();
  temp_dir out;
  auto port = std::to_string(s.port);
  pull_options o;
  o.out_dir = out.path.string();
  o.docker_config = (out.path / "none.json").string();
  o.connect_timeout = std::chrono::seconds(3);
  o.read_timeout = std::chrono::seconds(3);
  auto tls = pull_image(oci_ref{"127.1:" + port, "a/b", "v1", ""}, o);
  ASSERT_FALSE(tls);
  EXPECT_EQ(error_code(tls.error()), ec::unavailable)
      << error_message(tls.error());
  EXPECT_EQ(hits, 0);
  o.insecure = {"127.1:" + port};
  auto plain = pull_image(oci_ref{"127.1:" + port, "a/b", "v1", ""}, o);
  ASSERT_FALSE(plain);
  EXPECT_EQ(error_code(plain.error()), ec::not_found)
      << error_message(plain.error());
  EXPECT_EQ(hits, 1);
  o.insecure.clear();
  auto loop = pull_image(oci_ref{"127.0.0.1:" + port, "a/b", "v1", ""}, o);
  ASSERT_FALSE(loop);
  EXPECT_EQ(error_code(loop.error()), ec::not_found)
      << error_message(loop.error());
  EXPECT_EQ(hits, 2);
}

} // namespace
} // namespace banger
