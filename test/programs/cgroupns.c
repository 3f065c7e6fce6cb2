/* cgroupns: the cgroup program in a cgroup namespace of its own (see cgroup.c). */
#define CGNS 1
#include "cgroup.c"
