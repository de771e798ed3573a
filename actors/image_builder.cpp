#include "actors/image_builder.hpp"

#include <set>

#include <caf/all.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/blocking.hpp"
#include "services/error.hpp"
#include "services/image_build.hpp"
#include "services/log.hpp"
#include "services/names.hpp"
#include "services/timefmt.hpp"

namespace banger {

namespace {

struct builder_state {
  static inline const char* name = "image_builder";
  /// Names being built: a second build of one name is refused at once.
  std::set<std::string> building;
};

using self_ptr = caf::stateful_actor<builder_state>*;

struct build_ctx {
  image_build_request req;
  std::string vm;     // the build VM's name
  std::string kernel; // the new image's kernel
  std::string base_rootfs; // the base image's root filesystem
  caf::actor sink;
  std::uint64_t stream = 0;
  caf::typed_response_promise<image_info> rp;
};

using ctx_ptr = std::shared_ptr<build_ctx>;

void say(self_ptr self, const ctx_ptr& c, std::string stage, std::string msg) {
  if (c->sink)
    self->send(c->sink, atom::progress_v, c->stream,
               progress_event{std::move(stage), std::move(msg), 0, 0});
}

/// Ends the build: deletes the build VM (if any), then answers.
template <class Result>
void finish(self_ptr self, vm_manager_actor manager, ctx_ptr c, bool has_vm,
            Result result) {
  auto done = [=] {
    self->state.building.erase(c->req.name);
    c->rp.deliver(result);
  };
  if (!has_vm) {
    done();
    return;
  }
  self->request(manager, caf::infinite, atom::del_v, c->vm, true)
    .then([=](bool) { done(); },
          [=](caf::error& err) {
            log::warn("image_builder", "cannot delete build VM {}: {}", c->vm,
                      error_message(err));
            done();
          });
}

caf::error failed(const ctx_ptr& c, const caf::error& err) {
  return make_error(error_code(err), "image build " + c->req.name + ": "
                                       + error_message(err)
                                       + "; nothing was published");
}

/// The VM is stopped: its disk becomes the image, then the store row.
void publish(self_ptr self, vm_manager_actor manager, store_actor store,
             std::string images_dir, ctx_ptr c, std::string vm_dir) {
  say(self, c, "publish", "writing image " + c->req.name);
  image_build_job job{c->req.name, c->kernel, c->req.from, images_dir,
                      vm_dir + "/root.qcow2", vm_dir + "/work.ext4",
                      c->req.size_bytes};
  job.base_rootfs = c->base_rootfs;
  self
    ->request(blocking(self, [job] { return publish_root_disk(job); }),
              caf::infinite, atom::run_v)
    .then(
      [=](image_info& info) {
        info.created_at = now_rfc3339();
        self->request(store, caf::infinite, atom::image_v, atom::create_v, info)
          .then([=](bool) { finish(self, manager, c, true, info); },
                [=](caf::error& err) {
                  discard_then(self, info.rootfs, [=] {
                    finish(self, manager, c, true, failed(c, err));
                  });
                });
      },
      [=](caf::error& err) { finish(self, manager, c, true, err); });
}

void run_build(self_ptr self, vm_manager_actor manager, store_actor store,
               std::string images_dir, ctx_ptr c) {
  vm_spec spec;
  spec.name = c->vm;
  spec.image = c->req.from;
  spec.kernel = c->req.kernel;
  spec.nat = c->req.nat;
  spec.host_files = false; // its /root becomes the image's work seed
  say(self, c, "build", "booting " + c->req.from + " as VM " + c->vm);
  self
    ->request(manager, caf::infinite, atom::create_v, spec, c->sink,
              c->stream)
    .then(
      [=](vm_info&) {
        say(self, c, "build", "running the provisioning command");
        self
          ->request(manager, caf::infinite, atom::exec_v, c->vm, c->req.exec,
                    c->sink, c->stream)
          .then(
            [=](exec_result& r) {
              if (r.exit_code != 0 || r.signal != 0) {
                auto how = r.signal != 0
                             ? "was killed by signal " + std::to_string(r.signal)
                             : "exited with " + std::to_string(r.exit_code);
                finish(self, manager, c, true,
                       make_error(ec::bad_state,
                                  "image build " + c->req.name
                                    + ": the provisioning command " + how
                                    + "; nothing was published"));
                return;
              }
              say(self, c, "build", "stopping the build VM");
              self
                ->request(manager, caf::infinite, atom::stop_v, c->vm,
                          std::uint32_t{0})
                .then(
                  [=](vm_info& info) {
                    publish(self, manager, store, images_dir, c, info.dir);
                  },
                  [=](caf::error& err) {
                    finish(self, manager, c, true, failed(c, err));
                  });
            },
            [=](caf::error& err) {
              finish(self, manager, c, true, failed(c, err));
            });
      },
      [=](caf::error& err) {
        // A create that failed cleaned up after itself.
        finish(self, manager, c, false, failed(c, err));
      });
}

caf::behavior builder_impl(self_ptr self,
                           std::shared_ptr<const daemon_config> config,
                           vm_manager_actor manager, store_actor store) {
  return {
    [=](atom::image, atom::build, image_build_request& req, caf::actor sink,
        std::uint64_t stream) -> caf::result<image_info> {
      if (auto why = validate_object_name("image", req.name); !why.empty())
        return make_error(ec::invalid_argument, why);
      if (req.exec.argv.empty())
        return make_error(ec::invalid_argument,
                          "image build " + req.name
                            + ": no provisioning command (give it after --)");
      if (self->state.building.count(req.name) > 0)
        return make_error(ec::bad_state,
                          "image " + req.name + " is being built already");
      auto c = std::make_shared<build_ctx>();
      c->req = std::move(req);
      c->sink = std::move(sink);
      c->stream = stream;
      c->rp = self->make_response_promise<image_info>();
      c->vm = "build-" + random_id().substr(0, 8);
      self->state.building.insert(c->req.name);
      auto images_dir = config->paths.images_dir();
      // The name must be free and the base must exist before anything boots.
      self->request(store, caf::infinite, atom::image_v, atom::get_v, c->req.name)
        .then(
          [=](image_info&) {
            finish(self, manager, c, false,
                   make_error(ec::already_exists,
                              "an image named \"" + c->req.name
                                + "\" exists already (banger image rm "
                                + c->req.name + ", or choose another name)"));
          },
          [=](caf::error&) {
            self
              ->request(store, caf::infinite, atom::image_v, atom::get_v,
                        c->req.from)
              .then(
                [=](image_info& base) {
                  c->kernel = c->req.kernel.empty() ? base.kernel
                                                    : c->req.kernel;
                  c->base_rootfs = base.rootfs;
                  run_build(self, manager, store, images_dir, c);
                },
                [=](caf::error& err) {
                  finish(self, manager, c, false, failed(c, err));
                });
          });
      return c->rp;
    },
  };
}

} // namespace

caf::actor spawn_image_builder(caf::actor_system& sys,
                               std::shared_ptr<const daemon_config> config,
                               vm_manager_actor manager, store_actor store) {
  return sys.spawn(builder_impl, std::move(config), std::move(manager),
                   std::move(store));
}

} // namespace banger
