/*
 * libpvisor: the domctl wrappers (domctl.h). Each builds a pv_domctl_op_t on the stack (its
 * alignment is 8, as the host requires), copies the payload in, calls, and copies the payload out.
 */
#include <pvisor/domctl.h>

#include "internal.h"

/* Makes one domctl with `in_len` payload bytes from `in`; on success copies `out_len` payload
 * bytes to `out` (the host writes the payload in place). */
static int call(uint32_t cmd, uint32_t d, const void *in, size_t in_len, void *out, size_t out_len)
{
    pv_domctl_op_t op;
    memset(&op, 0, sizeof op);
    op.cmd = cmd;
    op.interface_version = PV_DOMCTL_INTERFACE_VERSION;
    op.domain = d;
    if (in_len > 0)
        memcpy(op.payload, in, in_len);
    int32_t r = pv_domctl(&op);
    if (r < 0)
        return r;
    if (out_len > 0)
        memcpy(out, op.payload, out_len);
    return 0;
}

_Static_assert(sizeof(pv_domctl_create_t) <= sizeof(((pv_domctl_op_t *)0)->payload),
               "every payload fits the op");
_Static_assert(sizeof(pv_domctl_getinfo_t) <= sizeof(((pv_domctl_op_t *)0)->payload),
               "every payload fits the op");

static uint32_t str_len(const char *s)
{
    return s == NULL ? 0u : (uint32_t)strlen(s);
}

int pv_dom_create(const void *image, uint32_t image_len, uint64_t mem_bytes, uint32_t nr_vcpus,
                  uint32_t flags, const char *name, const char *cmdline, uint32_t *domid_out)
{
    return pv_dom_create_max(image, image_len, mem_bytes, 0, nr_vcpus, flags, name, cmdline, domid_out);
}

int pv_dom_create_max(const void *image, uint32_t image_len, uint64_t mem_bytes, uint64_t max_mem,
                      uint32_t nr_vcpus, uint32_t flags, const char *name, const char *cmdline,
                      uint32_t *domid_out)
{
    pv_domctl_create_t c;
    memset(&c, 0, sizeof c);
    c.image = (uint32_t)(uintptr_t)image;
    c.image_len = image_len;
    c.mem_bytes = mem_bytes;
    c.max_mem = max_mem;
    c.nr_vcpus = nr_vcpus;
    c.flags = flags;
    c.name_len = str_len(name);
    c.name = c.name_len > 0 ? (uint32_t)(uintptr_t)name : 0u;
    c.cmdline_len = str_len(cmdline);
    c.cmdline = c.cmdline_len > 0 ? (uint32_t)(uintptr_t)cmdline : 0u;
    int r = call(PV_DOMCTL_CREATE, 0, &c, sizeof c, &c, sizeof c);
    if (r == 0 && domid_out != NULL)
        *domid_out = c.domid;
    return r;
}

int pv_dom_destroy(uint32_t d)
{
    return call(PV_DOMCTL_DESTROY, d, NULL, 0, NULL, 0);
}

int pv_dom_pause(uint32_t d)
{
    return call(PV_DOMCTL_PAUSE, d, NULL, 0, NULL, 0);
}

int pv_dom_unpause(uint32_t d)
{
    return call(PV_DOMCTL_UNPAUSE, d, NULL, 0, NULL, 0);
}

int pv_dom_getinfo(uint32_t d, pv_domctl_getinfo_t *out)
{
    if (out == NULL)
        return PV_EFAULT;
    return call(PV_DOMCTL_GETINFO, d, NULL, 0, out, sizeof *out);
}

int pv_dom_list(uint32_t *ids, uint32_t max, uint32_t *nr_out, uint32_t *total_out)
{
    pv_domctl_list_t l;
    memset(&l, 0, sizeof l);
    l.buffer = max > 0 ? (uint32_t)(uintptr_t)ids : 0u;
    l.max = max;
    int r = call(PV_DOMCTL_LIST, 0, &l, sizeof l, &l, sizeof l);
    if (r == 0) {
        if (nr_out != NULL)
            *nr_out = l.nr;
        if (total_out != NULL)
            *total_out = l.total;
    }
    return r;
}

int pv_dom_set_max_mem(uint32_t d, uint64_t bytes)
{
    pv_domctl_mem_t m = {.bytes = bytes};
    return call(PV_DOMCTL_SET_MAX_MEM, d, &m, sizeof m, NULL, 0);
}

int pv_dom_set_target(uint32_t d, uint64_t bytes)
{
    pv_domctl_mem_t m = {.bytes = bytes};
    return call(PV_DOMCTL_SET_MEMORY_TARGET, d, &m, sizeof m, NULL, 0);
}

int pv_dom_set_vcpus(uint32_t d, uint32_t n)
{
    pv_domctl_vcpus_t v = {.nr_vcpus = n, .pad = 0};
    return call(PV_DOMCTL_SET_VCPUS, d, &v, sizeof v, NULL, 0);
}

/* ATTACH and DETACH share the payload: index in, new_index out. */
static int move_device(uint32_t cmd, uint32_t d, uint32_t index, uint32_t *new_index)
{
    pv_domctl_device_t dev = {.index = index, .new_index = 0};
    int r = call(cmd, d, &dev, sizeof dev, &dev, sizeof dev);
    if (r == 0 && new_index != NULL)
        *new_index = dev.new_index;
    return r;
}

int pv_dom_attach(uint32_t d, uint32_t index, uint32_t *new_index)
{
    return move_device(PV_DOMCTL_ATTACH_DEVICE, d, index, new_index);
}

int pv_dom_detach(uint32_t d, uint32_t index, uint32_t *new_index)
{
    return move_device(PV_DOMCTL_DETACH_DEVICE, d, index, new_index);
}

int pv_dom_request_shutdown(uint32_t d, uint32_t reason)
{
    pv_domctl_shutdown_t s = {.reason = reason, .pad = 0};
    return call(PV_DOMCTL_REQUEST_SHUTDOWN, d, &s, sizeof s, NULL, 0);
}

int pv_physinfo(pv_domctl_physinfo_t *out)
{
    if (out == NULL)
        return PV_EFAULT;
    return call(PV_DOMCTL_PHYSINFO, 0, NULL, 0, out, sizeof *out);
}
