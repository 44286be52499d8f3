// Loads the plug-in given on the command line and runs it. The host itself
// knows nothing of shoal: the runtime lives and dies inside the plug-in.
#include <dlfcn.h>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s PLUGIN.so\n", argv[0]);
    return 2;
  }
  // RTLD_NOW: an unresolved symbol fails here, not halfway through a run.
  void* plugin = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (plugin == nullptr) {
    std::fprintf(stderr, "host: %s\n", dlerror());
    return 1;
  }
  auto run = reinterpret_cast<int (*)()>(dlsym(plugin, "shoal_plugin_run"));
  if (run == nullptr) {
    std::fprintf(stderr, "host: %s\n", dlerror());
    return 1;
  }
  int rc = run();
  std::fflush(stdout);  // the plug-in's stdio and ours are one: keep the order
  dlclose(plugin);
  return rc;
}
