#include "actors/library.hpp"

#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

#include <caf/all.hpp>
#include <caf/event_based_actor.hpp>

#include "actors/blocking.hpp"
#include "services/error.hpp"
#include "services/import.hpp"
#include "services/names.hpp"
#include "services/timefmt.hpp"

namespace banger {

namespace {

/// The shared tail of every import: refuse a name that is taken, copy the
/// files in a worker, then register them in the store, undoing the copy if
/// that fails. `Kind` is atom::image or atom::kernel; `file` names the field
/// holding a path inside the imported directory.
template <class Info, class Kind, class Job>
void import_and_register(caf::event_based_actor* self,
                         caf::typed_response_promise<Info> rp,
                         store_actor store, Kind kind, std::string what,
                         std::string name, Job job,
                         std::string Info::*file) {
  self->request(store, caf::infinite, kind, atom::get_v, name)
    .then(
      [=](Info&) mutable {
        rp.deliver(make_error(ec::already_exists,
                              "a " + what + " named \"" + name
                                + "\" already exists (see: banger " + what
                                + " list)"));
      },
      [=](caf::error&) {
        self->request(blocking(self, job), caf::infinite, atom::run_v)
          .then(
            [=](Info& info) mutable {
              info.created_at = now_rfc3339();
              self->request(store, caf::infinite, kind, atom::create_v, info)
                .then([=](bool) mutable { rp.deliver(info); },
                      [=](caf::error& err) mutable {
                        discard_then(self, info.*file,
                                     [=]() mutable { rp.deliver(err); });
                      });
            },
            [=](caf::error& err) mutable { rp.deliver(err); });
      });
}

/// `image rm` / `kernel rm`: the row goes first (the store refuses while
/// anything uses it, naming what), then the files, in a worker.
template <class Info, class Kind>
void remove_and_unregister(caf::event_based_actor* self,
                           caf::typed_response_promise<Info> rp,
                           store_actor store, Kind kind, std::string name,
                           std::string Info::*file) {
  self->request(store, caf::infinite, kind, atom::del_v, name)
    .then(
      [=](Info& info) mutable {
        discard_then(self, info.*file, [=]() mutable { rp.deliver(info); });
      },
      [=](caf::error& err) mutable { rp.deliver(err); });
}

/// Deletes (force-stopping) `vms` one after the other, then calls `then`;
/// a VM that cannot be deleted ends it with that error.
void delete_each(caf::event_based_actor* self, vm_manager_actor manager,
                 std::vector<std::string> vms,
                 std::function<void(caf::expected<void>)> then) {
  if (vms.empty()) {
    then({});
    return;
  }
  auto vm = vms.back();
  vms.pop_back();
  self->request(manager, caf::infinite, atom::del_v, vm, true)
    .then([=](bool) { delete_each(self, manager, vms, then); },
          [=](caf::error& err) { then(err); });
}

/// `rm -f`: deletes the VMs whose `field` names `name`, then calls `then`.
void delete_users(caf::event_based_actor* self, vm_manager_actor manager,
                  std::string name, std::string vm_info::*field,
                  std::function<void(caf::expected<void>)> then) {
  self->request(manager, caf::infinite, atom::list_v)
    .then(
      [=](vm_list& list) {
        std::vector<std::string> users;
        for (auto& vm : list.vms)
          if (vm.*field == name)
            users.push_back(vm.name);
        delete_each(self, manager, std::move(users), then);
      },
      [=](caf::error& err) { then(err); });
}

caf::behavior library_impl(caf::event_based_actor* self,
                           std::shared_ptr<const daemon_config> config,
                           store_actor store, vm_manager_actor manager) {
  return {
    [=](atom::image, atom::list) {
      return self->delegate(store, atom::image_v, atom::list_v);
    },
    [=](atom::image, atom::get, const std::string& name) {
      return self->delegate(store, atom::image_v, atom::get_v, name);
    },
    [=](atom::kernel, atom::get, const std::string& name) {
      return self->delegate(store, atom::kernel_v, atom::get_v, name);
    },
    [=](atom::image, atom::del, const std::string& name, bool force) {
      auto rp = self->make_response_promise<image_info>();
      auto go = [=](caf::expected<void> ok) mutable {
        if (!ok)
          rp.deliver(ok.error());
        else
          remove_and_unregister(self, rp, store, atom::image_v, name,
                                &image_info::rootfs);
      };
      if (force)
        delete_users(self, manager, name, &vm_info::image, go);
      else
        go({});
      return rp;
    },
    [=](atom::kernel, atom::del, const std::string& name, bool force) {
      // Images using the kernel are never deleted for it: the store
      // refuses and names them.
      auto rp = self->make_response_promise<kernel_info>();
      auto go = [=](caf::expected<void> ok) mutable {
        if (!ok)
          rp.deliver(ok.error());
        else
          remove_and_unregister(self, rp, store, atom::kernel_v, name,
                                &kernel_info::vmlinux);
      };
      if (!force) {
        go({});
        return rp;
      }
      // Only VMs may go with it: while an image uses the kernel, the store's
      // refusal (naming the images) stands and no VM is touched.
      self->request(store, caf::infinite, atom::image_v, atom::list_v)
        .then(
          [=](image_list& images) mutable {
            for (auto& img : images.images)
              if (img.kernel == name) {
                go({});
                return;
              }
            delete_users(self, manager, name, &vm_info::kernel, go);
          },
          [=](caf::error& err) mutable { rp.deliver(err); });
      return rp;
    },
    [=](atom::kernel, atom::list) {
      return self->delegate(store, atom::kernel_v, atom::list_v);
    },
    [=](atom::image, atom::import,
        image_import_request& req) -> caf::result<image_info> {
      if (auto why = validate_object_name("image", req.name); !why.empty())
        return make_error(ec::invalid_argument, why);
      if (req.kernel.empty())
        req.kernel = "default";
      auto rp = self->make_response_promise<image_info>();
      auto images_dir = config->paths.images_dir();
      // The kernel must exist before any copy.
      self->request(store, caf::infinite, atom::kernel_v, atom::get_v,
                    req.kernel)
        .then(
          [=](kernel_info&) {
            import_and_register(
              self, rp, store, atom::image_v, "image", req.name,
              [=] { return import_image(images_dir, req); },
              &image_info::rootfs);
          },
          [=](caf::error& err) mutable { rp.deliver(err); });
      return rp;
    },
    [=](atom::kernel, atom::import,
        kernel_import_request& req) -> caf::result<kernel_info> {
      if (auto why = validate_object_name("kernel", req.name); !why.empty())
        return make_error(ec::invalid_argument, why);
      auto rp = self->make_response_promise<kernel_info>();
      auto kernels_dir = config->paths.kernels_dir();
      import_and_register(
        self, rp, store, atom::kernel_v, "kernel", req.name,
        [=] { return import_kernel(kernels_dir, req); },
        &kernel_info::vmlinux);
      return rp;
    },
  };
}

} // namespace

caf::actor spawn_library(caf::actor_system& sys,
                         std::shared_ptr<const daemon_config> config,
                         store_actor store, vm_manager_actor manager) {
  return sys.spawn(library_impl, std::move(config), std::move(store),
                   std::move(manager));
}

} // namespace banger
