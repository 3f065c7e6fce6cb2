/* usernsnet: userns with a network namespace the user namespace owns,
 * lo up, a sysctl set inside and TCP connections (see userns.c). */
#define USERNS_NETNS 1
#include "userns.c"
