/*
 * dom0: a controlling domain. It boots with every frame and vCPU of the host, reads a partition
 * plan, funds the clients out of its own allocation, starts them from images on its boot volume,
 * moves memory between two of them by ballooning, hot-plugs a vCPU, restarts a client that
 * crashes, and shuts everything down, printing the host's accounts after every step.
 *
 * Run it with `pvisor boot` (docs/controlling-domain.md walks through a run):
 *
 *   pvisor boot guest-kit/examples/dom0.wasm --mem 32M --vcpus 5 \
 *     --image worker=guest-kit/examples/worker.wasm \
 *     --cmdline 'plan=web:worker:4M:1..2,db:worker:4M..8M:1,batch:worker:4M:1/crash_at=30 move=web:db:2M hotplug=web'
 *
 * Command line (space-separated words):
 *   plan=ENTRY[,ENTRY]...   the clients, at most 8 (required). `plan=@FILE` reads the plan from
 *                           file FILE of the boot volume instead (entries separated by commas or
 *                           newlines; spaces and a final newline are ignored).
 *   move=FROM:TO:SIZE       after the clients settle, FROM's load falls and TO's rises: lower
 *                           FROM's memory target by SIZE, wait until FROM has ballooned the frames
 *                           out, then raise TO's target by SIZE (TO takes them from the pool).
 *   hotplug=NAME            give NAME one more vCPU from the pool, then take it back.
 *   disk=NAME               move dom0's first --disk device (`disk0` in its manifest; the boot
 *                           volume is entry 0) into NAME (DOMCTL_ATTACH_DEVICE), let NAME use it
 *                           for `settle` ms (a worker initialises it and reads it), then take it
 *                           back (DOMCTL_DETACH_DEVICE). Needs `pvisor boot … --disk FILE`.
 *   settle=MS               virtual ms the clients run between steps (default 20).
 *   timeout=MS              virtual ms any wait may take before dom0 gives up (default 5000).
 *
 *   ENTRY = NAME ':' IMAGE ':' MEM ':' VCPUS [ '/' ARGS ]
 *     NAME   the client's domain name: 1..15 of [A-Za-z0-9_-.], unique, not "dom0".
 *     IMAGE  the file on the boot volume holding its Wasm image (`--image IMAGE=PATH`).
 *     MEM    SIZE, or START..SIZE: the client is created with SIZE bytes (taken from the pool)
 *            and, with START, its memory target is set to START before it runs, so its balloon
 *            driver hands SIZE - START back at once and it has room to grow later.
 *     VCPUS  N, or START..N: created with N vCPU slots (taken from the pool); with START it is
 *            lowered to START held vCPUs before it runs (the rest go back to the pool).
 *     ARGS   the client's command line, with '+' for each space (and no ','): `/load=3+crash_at=5`.
 *     SIZE   a number with suffix K, M or G (or none: bytes); a multiple of 64K, at least 64K.
 *
 * Steps, each followed by an accounts block:
 *   boot      nothing done yet: dom0 holds everything.
 *   fund      dom0 read the images into its heap, ballooned out as many frames as the clients'
 *             SIZEs add up to (pv_balloon_release) and lowered itself to 1 vCPU.
 *   create    each client created paused (DOMCTL_CREATE), its max memory and target set and its
 *             vCPUs lowered; the block is printed before any of them runs, then all are unpaused.
 *   start     `settle` ms later, once every client holds its target.
 *   move      (with move=) FROM ballooned down, TO ballooned up.
 *   vcpu up   (with hotplug=) NAME holds one more vCPU; vcpu down: back to what it held.
 *   (disk=)   no accounts block (devices are not frames or vCPUs); two lines instead (below).
 *   restart NAME   whenever a client crashes (VIRQ_DOM_EXC, then DOMCTL_GETINFO shows it dying
 *             or shut down with SHUTDOWN_CRASH): it is destroyed and created again from the same
 *             image with the same memory size, target, vCPU slots and held vCPUs (the block is
 *             printed before it is unpaused); its command line loses its `crash_at=` word (the
 *             fault was injected; the new instance runs clean).
 *             A client is restarted at most 3 times; when it crashes again it is destroyed and
 *             left out (dom0 then exits 1). Before shutting down, dom0 waits for every client
 *             whose ARGS hold crash_at= (K other than 0) to have crashed and been restarted, or
 *             to have shut down cleanly.
 *   shutdown  each client asked to power off (DOMCTL_REQUEST_SHUTDOWN), waited for, destroyed.
 *   reclaim   dom0 took its frames (pv_balloon_reclaim) and vCPUs back: these are the final
 *             accounts, compared with the boot accounts.
 *
 * Accounts block (exact; frames are 4 KiB; one `domain` line per domain on the host, in
 * DOMCTL_LIST order, named as in the plan, dom0 itself "dom0", any other "dom<ID>"; `frames` is
 * DOMCTL_GETINFO's populated bytes / 4096 and `vcpus` its held vCPUs):
 *
 *   dom0: accounts after STEP:
 *   dom0:   total: frames=T vcpus=V
 *   dom0:   free: frames=F vcpus=W
 *   dom0:   domain ID NAME: frames=N vcpus=M
 *   dom0:   check: frames SUM+F=T vcpus SUM+W=V ok        ("MISMATCH" instead of "ok" otherwise)
 *
 * Other lines: `dom0: plan: ...` (one per client), `dom0: created NAME as domain ID`,
 * `dom0: load moves from FROM to TO: ...`, `dom0: hotplug: NAME vCPUs A -> B`,
 * `dom0: attached disk0 to NAME (its entry I)`, `dom0: detached disk0 from NAME (back at entry J)`
 * (I, J: the device's manifest entry in NAME, then in dom0 again),
 * `dom0: NAME (domain ID) crashed; restarting`, `dom0: restarted NAME as domain ID`,
 * `dom0: NAME (domain ID) shut down (poweroff|reboot|crash|other, code C)`, and last
 * `dom0: final accounts equal the boot accounts` or `dom0: final accounts differ from the boot
 * accounts`.
 *
 * Exit: 0 when every step worked, every check line says ok and the final accounts equal the boot
 * accounts; 1 when a step failed or an account did not balance; 2 for a bad command line (the
 * message names the field and the fix).
 */
#include <pvisor/balloon.h>
#include <pvisor/bootvol.h>
#include <pvisor/control.h>
#include <pvisor/domctl.h>
#include <pvisor/pvisor.h>
#include <pvisor/virtio.h>

#define MAX_CLIENTS 8u
#define MAX_IMAGES MAX_CLIENTS
#define MAX_DOMAINS 64u /* domains an accounts block can show (the host may run others too) */
#define NAME_MAX 15u
#define ARGS_MAX 256u
#define PLAN_MAX 1024u
#define FRAME PV_GRANT_FRAME_SIZE
#define WASM_PAGE 65536ull
#define POLL_NS PV_NS_PER_MS /* how often a wait looks again */
#define MAX_RESTARTS 3u      /* a client that keeps crashing is left dead after this many */
#define SELF_NAME "dom0"
#define HOT_DISK "disk0" /* the manifest name of dom0's first --disk (src/cli/devices.ts diskName) */

/* Exit codes. */
#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2

/* One image read from the boot volume (read once, shared by every client that uses it). */
typedef struct {
    char name[NAME_MAX + 1];
    uint8_t *bytes;
    uint32_t len;
} image_t;

/* One client of the plan and the domain now running it (domid 0: none). */
typedef struct {
    char name[NAME_MAX + 1];
    char image[NAME_MAX + 1];
    const image_t *img;
    uint64_t mem_size;   /* created with (bytes) */
    uint64_t target;     /* memory target now (bytes) */
    uint32_t vcpu_slots; /* created with */
    uint32_t vcpus;      /* held now */
    char args[ARGS_MAX]; /* its command line */
    int crash_armed;     /* args hold crash_at= and it has not been restarted yet */
    uint32_t restarts;   /* times it was restarted (at most MAX_RESTARTS) */
    uint32_t domid;
} client_t;

/* What one accounts block showed, to compare the final block with the first. */
typedef struct {
    pv_domctl_physinfo_t phys;
    uint32_t nr;
    uint32_t ids[MAX_DOMAINS];
    uint32_t frames[MAX_DOMAINS];
    uint32_t vcpus[MAX_DOMAINS];
} accounts_t;

static client_t clients[MAX_CLIENTS];
static uint32_t nr_clients;
static image_t images[MAX_IMAGES];
static uint32_t nr_images;
static char plan_buf[PLAN_MAX];
static uint32_t self_id;
static uint64_t timeout_ns;
static uint32_t exc_events; /* VIRQ_DOM_EXC count, written by the handler */
static int failed;          /* a step failed or an account did not balance */
static client_t *move_from, *move_to; /* move=: NULL without it */
static uint64_t move_size;

/* ---- Parsing ---------------------------------------------------------------------------- */

static int usage(const char *fmt, const char *what, const char *fix)
{
    pv_printf("dom0: bad command line: ");
    pv_printf(fmt, what);
    pv_printf("; %s\n", fix);
    return EXIT_USAGE;
}

static int name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
}

/* Copies [s, e) into dst (NAME_MAX + 1 bytes) if it is a valid name. */
static int take_name(const char *s, const char *e, char *dst)
{
    size_t n = (size_t)(e - s);
    if (n == 0 || n > NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!name_char(s[i]))
            return 0;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 1;
}

/* A SIZE in [s, e): digits and an optional K/M/G; a non-zero multiple of 64 KiB below 4 GiB. */
static int parse_size(const char *s, const char *e, uint64_t *out)
{
    const char *end;
    if (s == e || *s < '0' || *s > '9')
        return 0;
    uint64_t v = pv_strtoull(s, &end, 10);
    if (end > e || (e - end) > 1 || v > (1ull << 32))
        return 0;
    if (end < e) {
        char u = *end;
        if (u == 'K' || u == 'k')
            v <<= 10;
        else if (u == 'M' || u == 'm')
            v <<= 20;
        else if (u == 'G' || u == 'g')
            v <<= 30;
        else
            return 0;
    }
    if (v == 0 || v % WASM_PAGE != 0 || v >= (4ull << 30))
        return 0;
    *out = v;
    return 1;
}

/* A count 1..PV_MAX_VCPUS in [s, e). */
static int parse_count(const char *s, const char *e, uint32_t *out)
{
    const char *end;
    if (s == e || *s < '0' || *s > '9')
        return 0;
    uint64_t v = pv_strtoull(s, &end, 10);
    if (end != e || v == 0 || v > PV_MAX_VCPUS)
        return 0;
    *out = (uint32_t)v;
    return 1;
}

/* Finds ".." in [s, e); NULL when absent. */
static const char *find_range(const char *s, const char *e)
{
    for (const char *p = s; p + 1 < e; p++)
        if (p[0] == '.' && p[1] == '.')
            return p;
    return NULL;
}

static const char *find_char(const char *s, const char *e, char c)
{
    for (const char *p = s; p < e; p++)
        if (*p == c)
            return p;
    return NULL;
}

static client_t *client_named(const char *name)
{
    for (uint32_t i = 0; i < nr_clients; i++)
        if (strcmp(clients[i].name, name) == 0)
            return &clients[i];
    return NULL;
}

/* Whether a word `crash_at=K` with K other than 0 (the worker's "never") is in a command line. */
static int has_crash_at(const char *args)
{
    const char *p = args;
    while (*p != '\0') {
        if ((p == args || p[-1] == ' ') && strncmp(p, "crash_at=", 9) == 0 &&
            !(p[9] == '0' && (p[10] == ' ' || p[10] == '\0')))
            return 1;
        p++;
    }
    return 0;
}

/* Removes every `crash_at=...` word from `args` in place. */
static void drop_crash_at(char *args)
{
    char *w = args;
    const char *p = args;
    while (*p != '\0') {
        while (*p == ' ')
            p++;
        const char *word = p;
        while (*p != '\0' && *p != ' ')
            p++;
        if (p == word || strncmp(word, "crash_at=", 9) == 0)
            continue;
        if (w != args)
            *w++ = ' ';
        memmove(w, word, (size_t)(p - word));
        w += p - word;
    }
    *w = '\0';
}

/* One plan entry [s, e) into clients[nr_clients]. */
static int parse_entry(const char *s, const char *e, uint32_t index)
{
    char what[80];
    int len = (int)(e - s);
    pv_snprintf(what, sizeof what, "plan entry %u \"%.*s%s\"", (unsigned)index, len > 40 ? 40 : len, s,
                len > 40 ? "..." : "");
    if (nr_clients == MAX_CLIENTS)
        return usage("%s: too many clients", what, "give at most 8 plan entries");
    client_t *c = &clients[nr_clients];
    memset(c, 0, sizeof *c);

    const char *slash = find_char(s, e, '/');
    const char *fields_end = slash != NULL ? slash : e;
    const char *f[4];
    const char *fe[4];
    const char *p = s;
    for (int i = 0; i < 4; i++) {
        const char *colon = i < 3 ? find_char(p, fields_end, ':') : NULL;
        if (i < 3 && colon == NULL)
            return usage("%s: too few fields", what, "write NAME:IMAGE:MEM:VCPUS[/ARGS], e.g. web:worker:4M:1");
        f[i] = p;
        fe[i] = i < 3 ? colon : fields_end;
        p = i < 3 ? colon + 1 : fields_end;
    }
    if (find_char(f[3], fe[3], ':') != NULL)
        return usage("%s: too many fields", what, "write NAME:IMAGE:MEM:VCPUS[/ARGS]; client arguments go after '/'");
    if (!take_name(f[0], fe[0], c->name) || strcmp(c->name, SELF_NAME) == 0)
        return usage("%s: NAME is not a valid domain name", what,
                     "use 1..15 of letters, digits, '_', '-', '.', not \"dom0\"");
    if (client_named(c->name) != NULL)
        return usage("%s: NAME is used twice", what, "give each client its own name");
    if (!take_name(f[1], fe[1], c->image))
        return usage("%s: IMAGE is not a valid boot volume file name", what, "use the NAME given to --image NAME=PATH");

    const char *r = find_range(f[2], fe[2]);
    uint64_t start;
    if (!parse_size(r != NULL ? r + 2 : f[2], fe[2], &c->mem_size) ||
        (r != NULL && !parse_size(f[2], r, &start)))
        return usage("%s: MEM is not SIZE or START..SIZE", what, "use sizes like 4M or 4M..8M (multiples of 64K)");
    c->target = r != NULL ? start : c->mem_size;
    if (c->target > c->mem_size)
        return usage("%s: MEM START is above SIZE", what, "write the smaller size first, e.g. 4M..8M");

    r = find_range(f[3], fe[3]);
    if (!parse_count(r != NULL ? r + 2 : f[3], fe[3], &c->vcpu_slots) ||
        (r != NULL && !parse_count(f[3], r, &c->vcpus)))
        return usage("%s: VCPUS is not N or START..N", what, "use counts 1..32, e.g. 1 or 1..2");
    if (r == NULL)
        c->vcpus = c->vcpu_slots;
    if (c->vcpus > c->vcpu_slots)
        return usage("%s: VCPUS START is above N", what, "write the smaller count first, e.g. 1..2");

    if (slash != NULL) {
        size_t n = (size_t)(e - slash - 1);
        if (n >= ARGS_MAX)
            return usage("%s: ARGS are too long", what, "keep a client's arguments under 256 bytes");
        for (size_t i = 0; i < n; i++)
            c->args[i] = slash[1 + i] == '+' ? ' ' : slash[1 + i];
        c->args[n] = '\0';
    }
    c->crash_armed = has_crash_at(c->args);
    nr_clients++;
    return EXIT_OK;
}

/* The plan text: entries separated by ',' (or newlines, from a file). */
static int parse_plan(char *plan)
{
    for (char *q = plan; *q != '\0'; q++)
        if (*q == '\n' || *q == '\r')
            *q = ',';
    const char *p = plan;
    uint32_t index = 1;
    while (*p != '\0') {
        const char *e = p;
        while (*e != '\0' && *e != ',')
            e++;
        if (e != p) {
            int rc = parse_entry(p, e, index);
            if (rc != EXIT_OK)
                return rc;
        }
        index++;
        p = *e == ',' ? e + 1 : e;
    }
    if (nr_clients == 0)
        return usage("%s has no entries", "plan", "give at least one NAME:IMAGE:MEM:VCPUS");
    return EXIT_OK;
}

/* Reads `plan=` (or the boot volume file it names after '@'). */
static int read_plan(void)
{
    int n = pv_cmdline_get("plan", plan_buf, sizeof plan_buf);
    if (n < 0)
        return usage("%s is missing", "plan=", "give plan=NAME:IMAGE:MEM:VCPUS[,...] (see dom0.c)");
    if (n >= (int)sizeof plan_buf)
        return usage("%s is too long", "plan=", "keep it under 1024 bytes or put it in a file (plan=@FILE)");
    if (plan_buf[0] != '@')
        return parse_plan(plan_buf);

    char file[NAME_MAX + 1];
    if (!take_name(plan_buf + 1, plan_buf + n, file))
        return usage("%s: the file name is not valid", "plan=@FILE", "use the NAME given to --image NAME=PATH");
    uint32_t len;
    int rc = pv_bootvol_find(file, &len);
    if (rc != 0) {
        pv_printf("dom0: bad command line: plan=@%s: no such file on the boot volume (error %d); add "
                  "--image %s=PATH\n",
                  file, rc, file);
        return EXIT_USAGE;
    }
    if (len >= sizeof plan_buf)
        return usage("%s: the file is too long", "plan=@FILE", "keep the plan under 1024 bytes");
    rc = pv_bootvol_read(file, plan_buf, len);
    if (rc != 0) {
        pv_printf("dom0: plan=@%s: reading it failed: error %d\n", file, rc);
        return EXIT_FAIL;
    }
    /* Spaces are ignored; a file may lay the plan out freely. */
    uint32_t w = 0;
    for (uint32_t i = 0; i < len; i++)
        if (plan_buf[i] != ' ' && plan_buf[i] != '\t')
            plan_buf[w++] = plan_buf[i];
    plan_buf[w] = '\0';
    for (uint32_t i = 0; i < w; i++)
        if (plan_buf[i] < ' ' && plan_buf[i] != '\n' && plan_buf[i] != '\r')
            return usage("%s: the file is not text", "plan=@FILE", "write the plan as text");
    return parse_plan(plan_buf);
}

/* ---- Accounts --------------------------------------------------------------------------- */

static const char *name_of(uint32_t domid, char *buf, size_t len)
{
    if (domid == self_id)
        return SELF_NAME;
    for (uint32_t i = 0; i < nr_clients; i++)
        if (clients[i].domid == domid)
            return clients[i].name;
    pv_snprintf(buf, len, "dom%u", (unsigned)domid);
    return buf;
}

/*
 * Prints one accounts block; fills `out` (may be NULL). Returns 0, or -1 if it did not balance.
 * PHYSINFO and each GETINFO are separate calls, so a block is a snapshot only while nothing moves:
 * here every move is dom0's own and has completed (a wait saw it) before a block is printed.
 */
static int print_accounts(const char *step, accounts_t *out)
{
    accounts_t a;
    memset(&a, 0, sizeof a);
    pv_printf("dom0: accounts after %s:\n", step);
    uint32_t total;
    int rc = pv_physinfo(&a.phys);
    if (rc == 0)
        rc = pv_dom_list(a.ids, sizeof a.ids / sizeof a.ids[0], &a.nr, &total);
    if (rc == 0 && total > a.nr)
        rc = PV_ENOSPC;
    if (rc != 0) {
        pv_printf("dom0:   cannot read the accounts: error %d\n", rc);
        failed = 1;
        return -1;
    }
    pv_printf("dom0:   total: frames=%u vcpus=%u\n", (unsigned)a.phys.total_frames, (unsigned)a.phys.total_vcpus);
    pv_printf("dom0:   free: frames=%u vcpus=%u\n", (unsigned)a.phys.free_frames, (unsigned)a.phys.free_vcpus);
    uint64_t sum_frames = 0, sum_vcpus = 0;
    for (uint32_t i = 0; i < a.nr; i++) {
        pv_domctl_getinfo_t info;
        char buf[16];
        rc = pv_dom_getinfo(a.ids[i], &info);
        if (rc != 0) {
            pv_printf("dom0:   domain %u: getinfo failed: error %d\n", (unsigned)a.ids[i], rc);
            failed = 1;
            return -1;
        }
        a.frames[i] = (uint32_t)(info.populated / FRAME);
        a.vcpus[i] = info.nr_vcpus;
        sum_frames += a.frames[i];
        sum_vcpus += a.vcpus[i];
        pv_printf("dom0:   domain %u %s: frames=%u vcpus=%u\n", (unsigned)a.ids[i],
                  name_of(a.ids[i], buf, sizeof buf), (unsigned)a.frames[i], (unsigned)a.vcpus[i]);
    }
    int ok = sum_frames + a.phys.free_frames == a.phys.total_frames &&
             sum_vcpus + a.phys.free_vcpus == a.phys.total_vcpus;
    pv_printf("dom0:   check: frames %u+%u=%u vcpus %u+%u=%u %s\n", (unsigned)sum_frames,
              (unsigned)a.phys.free_frames, (unsigned)a.phys.total_frames, (unsigned)sum_vcpus,
              (unsigned)a.phys.free_vcpus, (unsigned)a.phys.total_vcpus, ok ? "ok" : "MISMATCH");
    if (!ok)
        failed = 1;
    if (out != NULL)
        *out = a;
    return ok ? 0 : -1;
}

static int accounts_equal(const accounts_t *x, const accounts_t *y)
{
    if (memcmp(&x->phys, &y->phys, sizeof x->phys) != 0 || x->nr != y->nr)
        return 0;
    for (uint32_t i = 0; i < x->nr; i++)
        if (x->ids[i] != y->ids[i] || x->frames[i] != y->frames[i] || x->vcpus[i] != y->vcpus[i])
            return 0;
    return 1;
}

/* ---- Clients ---------------------------------------------------------------------------- */

static void on_dom_exc(void)
{
    pv_atomic_fetch_add(&exc_events, 1u);
}

static int step_failed(const char *what, const char *name, int rc)
{
    pv_printf("dom0: %s %s failed: error %d\n", what, name, rc);
    failed = 1;
    return rc;
}

/*
 * Creates the client's domain from its image with its resources and sets its maximum and target
 * memory and its held vCPUs while it is paused (so it boots knowing them); unpause_client starts it.
 */
static int create_client(client_t *c)
{
    uint32_t domid;
    int rc = pv_dom_create(c->img->bytes, c->img->len, c->mem_size, c->vcpu_slots, 0, c->name, c->args, &domid);
    if (rc != 0)
        return step_failed("create", c->name, rc);
    c->domid = domid;
    if ((rc = pv_dom_set_max_mem(domid, c->mem_size)) != 0)
        return step_failed("set_max_mem", c->name, rc);
    if ((rc = pv_dom_set_target(domid, c->target)) != 0)
        return step_failed("set_target", c->name, rc);
    if (c->vcpus != c->vcpu_slots && (rc = pv_dom_set_vcpus(domid, c->vcpus)) != 0)
        return step_failed("set_vcpus", c->name, rc);
    return 0;
}

static int unpause_client(client_t *c)
{
    int rc = pv_dom_unpause(c->domid);
    return rc != 0 ? step_failed("unpause", c->name, rc) : 0;
}

/* Whether domain `info` crashed: the host stopped it (dying) or it shut down with SHUTDOWN_CRASH. */
static int crashed(const pv_domctl_getinfo_t *info)
{
    return (info->flags & PV_DOMINF_DYING) != 0 ||
           ((info->flags & PV_DOMINF_SHUTDOWN) != 0 && info->shutdown_reason == PV_SHUTDOWN_CRASH);
}

/*
 * Looks for crashed clients after VIRQ_DOM_EXC: destroys each and creates it again from the same
 * image with the same resources (its `crash_at=` dropped), with an accounts block.
 */
static void restart_crashed(void)
{
    static uint32_t seen;
    uint32_t n = pv_atomic_load(&exc_events);
    if (n == seen)
        return;
    seen = n;
    for (uint32_t i = 0; i < nr_clients; i++) {
        client_t *c = &clients[i];
        pv_domctl_getinfo_t info;
        if (c->domid == 0 || pv_dom_getinfo(c->domid, &info) != 0 || !crashed(&info))
            continue;
        if (c->restarts == MAX_RESTARTS) {
            /* It keeps crashing: give its resources back to the pools and leave it out. */
            pv_printf("dom0: %s (domain %u) crashed again after %u restarts; destroying it\n", c->name,
                      (unsigned)c->domid, (unsigned)MAX_RESTARTS);
            failed = 1;
            if (pv_dom_destroy(c->domid) == 0)
                c->domid = 0;
            c->crash_armed = 0;
            continue;
        }
        c->restarts++;
        pv_printf("dom0: %s (domain %u) crashed; restarting\n", c->name, (unsigned)c->domid);
        int rc = pv_dom_destroy(c->domid);
        if (rc != 0) {
            step_failed("destroy", c->name, rc);
            continue;
        }
        c->domid = 0;
        drop_crash_at(c->args);
        c->crash_armed = 0;
        if (create_client(c) != 0)
            continue;
        pv_printf("dom0: restarted %s as domain %u\n", c->name, (unsigned)c->domid);
        char step[32];
        pv_snprintf(step, sizeof step, "restart %s", c->name);
        print_accounts(step, NULL);
        unpause_client(c);
    }
}

/*
 * Waits in virtual time until `done(arg)` holds, restarting crashed clients meanwhile.
 * Returns 0, or PV_ETIMEDOUT after `timeout=` ms (with a message naming `what`).
 */
static int wait_until(int (*done)(void *), void *arg, const char *what)
{
    uint64_t deadline = pv_time_ns() + timeout_ns;
    for (;;) {
        restart_crashed();
        if (done(arg))
            return 0;
        if (pv_time_ns() >= deadline) {
            pv_printf("dom0: timed out waiting for %s\n", what);
            failed = 1;
            return PV_ETIMEDOUT;
        }
        pv_sleep_ns(POLL_NS);
    }
}

/* Lets the clients run for `ns` of virtual time (crashes are still handled). */
static void run_for(uint64_t ns)
{
    uint64_t deadline = pv_time_ns() + ns;
    while (pv_time_ns() < deadline) {
        restart_crashed();
        pv_sleep_ns(POLL_NS);
    }
    restart_crashed();
}

/* The waits below pass over a client with no domain (one given up after MAX_RESTARTS). */
static int at_target(void *arg)
{
    client_t *c = arg;
    pv_domctl_getinfo_t info;
    return c->domid == 0 || (pv_dom_getinfo(c->domid, &info) == 0 && info.populated == c->target);
}

static int all_at_target(void *arg)
{
    (void)arg;
    for (uint32_t i = 0; i < nr_clients; i++)
        if (!at_target(&clients[i]))
            return 0;
    return 1;
}

static int vcpus_online(void *arg)
{
    client_t *c = arg;
    pv_domctl_getinfo_t info;
    return c->domid == 0 || (pv_dom_getinfo(c->domid, &info) == 0 && info.vcpus_online == c->vcpus);
}

/* Every client with crash_at= has crashed and been restarted (or ended without crashing). */
static int crashes_handled(void *arg)
{
    (void)arg;
    for (uint32_t i = 0; i < nr_clients; i++) {
        pv_domctl_getinfo_t info;
        if (!clients[i].crash_armed)
            continue;
        if (clients[i].domid != 0 && pv_dom_getinfo(clients[i].domid, &info) == 0 &&
            (info.flags & PV_DOMINF_SHUTDOWN) != 0 && !crashed(&info))
            continue;
        return 0;
    }
    return 1;
}

static int all_shut_down(void *arg)
{
    (void)arg;
    for (uint32_t i = 0; i < nr_clients; i++) {
        pv_domctl_getinfo_t info;
        if (clients[i].domid != 0 && pv_dom_getinfo(clients[i].domid, &info) == 0 &&
            (info.flags & (PV_DOMINF_SHUTDOWN | PV_DOMINF_DYING)) == 0)
            return 0;
    }
    return 1;
}

static const char *reason_name(uint32_t reason)
{
    switch (reason) {
    case PV_SHUTDOWN_POWEROFF:
        return "poweroff";
    case PV_SHUTDOWN_REBOOT:
        return "reboot";
    case PV_SHUTDOWN_CRASH:
        return "crash";
    default:
        return "other";
    }
}

/* ---- Steps ------------------------------------------------------------------------------ */

/* Reads every image the plan names from the boot volume into the heap (before ballooning). */
static int load_images(void)
{
    for (uint32_t i = 0; i < nr_clients; i++) {
        client_t *c = &clients[i];
        for (uint32_t k = 0; k < nr_images; k++)
            if (strcmp(images[k].name, c->image) == 0)
                c->img = &images[k];
        if (c->img != NULL)
            continue;
        image_t *img = &images[nr_images];
        int rc = pv_bootvol_find(c->image, &img->len);
        if (rc != 0) {
            pv_printf("dom0: bad command line: plan entry %u: image %s is not on the boot volume "
                      "(error %d); add --image %s=PATH\n",
                      (unsigned)(i + 1), c->image, rc, c->image);
            return EXIT_USAGE;
        }
        img->bytes = pv_alloc(img->len, 16);
        if (img->bytes == NULL) {
            pv_printf("dom0: image %s (%u bytes) does not fit in dom0's heap; give more --mem\n", c->image,
                      (unsigned)img->len);
            return EXIT_FAIL;
        }
        if ((rc = pv_bootvol_read(c->image, img->bytes, img->len)) != 0) {
            pv_printf("dom0: reading image %s failed: error %d\n", c->image, rc);
            return EXIT_FAIL;
        }
        memcpy(img->name, c->image, sizeof img->name);
        c->img = img;
        nr_images++;
    }
    return EXIT_OK;
}

/* move=FROM:TO:SIZE: checks it against the plan into move_from, move_to and move_size. */
static int parse_move(const char *spec)
{
    const char *e = spec + strlen(spec);
    const char *c1 = find_char(spec, e, ':');
    const char *c2 = c1 != NULL ? find_char(c1 + 1, e, ':') : NULL;
    char from_name[NAME_MAX + 1], to_name[NAME_MAX + 1];
    if (c2 == NULL || !take_name(spec, c1, from_name) || !take_name(c1 + 1, c2, to_name) ||
        !parse_size(c2 + 1, e, &move_size))
        return usage("%s is not FROM:TO:SIZE", "move=", "e.g. move=web:db:2M (names from the plan, SIZE a multiple of 64K)");
    move_from = client_named(from_name);
    move_to = client_named(to_name);
    if (move_from == NULL || move_to == NULL || move_from == move_to)
        return usage("%s names a client that is not in the plan", "move=", "use two different plan names");
    if (move_size >= move_from->target)
        return usage("%s: SIZE is not below FROM's target", "move=", "move less than FROM holds");
    if (move_to->target + move_size > move_to->mem_size)
        return usage("%s: TO has no room to grow by SIZE", "move=",
                     "create TO larger with MEM START..SIZE, e.g. 4M..8M, or move less");
    return EXIT_OK;
}

/*
 * The load moves from one client to another: FROM's target goes down, and only once FROM has
 * ballooned the frames out (they are in the pool) does TO's target go up by as much.
 */
static int run_move(void)
{
    client_t *from = move_from, *to = move_to;
    pv_printf("dom0: load moves from %s to %s: %s target %uK -> %uK, then %s target %uK -> %uK\n", from->name,
              to->name, from->name, (unsigned)(from->target >> 10), (unsigned)((from->target - move_size) >> 10),
              to->name, (unsigned)(to->target >> 10), (unsigned)((to->target + move_size) >> 10));
    from->target -= move_size;
    int rc = pv_dom_set_target(from->domid, from->target);
    if (rc != 0)
        return step_failed("set_target", from->name, rc);
    if ((rc = wait_until(at_target, from, "the shrinking client to reach its target")) != 0)
        return rc;
    to->target += move_size;
    if ((rc = pv_dom_set_target(to->domid, to->target)) != 0)
        return step_failed("set_target", to->name, rc);
    return wait_until(at_target, to, "the growing client to reach its target");
}

static int set_client_vcpus(client_t *c, uint32_t n)
{
    int rc = pv_dom_set_vcpus(c->domid, n);
    if (rc != 0)
        return step_failed("set_vcpus", c->name, rc);
    c->vcpus = n;
    return wait_until(vcpus_online, c, "the client to bring its vCPUs up or down");
}

/*
 * disk=: moves dom0's entry `index` (disk0) into client `c`, lets it run `settle_ns` so it can use
 * the disk, then takes it back. The device is reset at each move: dom0 never drove it, and would
 * have to initialise it again to use it afterwards.
 */
static int run_disk(client_t *c, uint32_t index, uint64_t settle_ns)
{
    uint32_t theirs, back;
    int rc = pv_dom_attach(c->domid, index, &theirs);
    if (rc != 0)
        return step_failed("attach " HOT_DISK " to", c->name, rc);
    pv_printf("dom0: attached %s to %s (its entry %u)\n", HOT_DISK, c->name, (unsigned)theirs);
    run_for(settle_ns);
    if (c->domid == 0)
        return 0; /* given up after crashes: destroying it handed the disk back */
    if ((rc = pv_dom_detach(c->domid, theirs, &back)) != 0)
        return step_failed("detach " HOT_DISK " from", c->name, rc);
    pv_printf("dom0: detached %s from %s (back at entry %u)\n", HOT_DISK, c->name, (unsigned)back);
    run_for(settle_ns);
    return 0;
}

int kmain(const pv_start_info_t *si)
{
    self_id = si->domid;
    timeout_ns = (uint64_t)pv_cmdline_u32("timeout", 5000u) * PV_NS_PER_MS;
    uint64_t settle_ns = (uint64_t)pv_cmdline_u32("settle", 20u) * PV_NS_PER_MS;
    uint32_t boot_vcpus = si->vcpus_held;

    int rc = pv_bootvol_open();
    if (rc != 0) {
        pv_printf("dom0: no boot volume (error %d); run dom0 with pvisor boot --image NAME=PATH\n", rc);
        return EXIT_USAGE;
    }
    if ((rc = read_plan()) != EXIT_OK)
        return rc;
    char move[64], hotplug[NAME_MAX + 2];
    int have_move = pv_cmdline_get("move", move, sizeof move);
    if (have_move >= (int)sizeof move)
        return usage("%s is too long", "move=", "e.g. move=web:db:2M");
    if (have_move >= 0 && (rc = parse_move(move)) != EXIT_OK)
        return rc;
    int have_hotplug = pv_cmdline_get("hotplug", hotplug, sizeof hotplug);
    client_t *hot = NULL;
    if (have_hotplug >= 0) {
        hot = have_hotplug <= (int)NAME_MAX ? client_named(hotplug) : NULL;
        if (hot == NULL)
            return usage("%s names a client that is not in the plan", "hotplug=", "use a plan name, e.g. hotplug=web");
        if (hot->vcpus >= hot->vcpu_slots)
            return usage("%s: the client has no free vCPU slot", "hotplug=",
                         "create it with more slots than it starts with, e.g. VCPUS 1..2");
    }

    char disk_to[NAME_MAX + 2];
    int have_disk = pv_cmdline_get("disk", disk_to, sizeof disk_to);
    client_t *disk_client = NULL;
    uint32_t disk_index = 0;
    if (have_disk >= 0) {
        disk_client = have_disk <= (int)NAME_MAX ? client_named(disk_to) : NULL;
        if (disk_client == NULL)
            return usage("%s names a client that is not in the plan", "disk=", "use a plan name, e.g. disk=web");
        const pv_device_info_t *d = pv_virtio_find(PV_VIRTIO_ID_BLOCK, HOT_DISK, 0);
        if (d == NULL)
            return usage("%s: dom0 has no device " HOT_DISK, "disk=", "give pvisor boot a disk, e.g. --disk disk.img,size=1M");
        disk_index = (uint32_t)(d - (const pv_device_info_t *)(uintptr_t)si->devices);
    }

    /* What the clients are created with. */
    uint64_t need_bytes = 0;
    uint32_t need_vcpus = 0;
    for (uint32_t i = 0; i < nr_clients; i++) {
        const client_t *c = &clients[i];
        need_bytes += c->mem_size;
        need_vcpus += c->vcpu_slots;
        pv_printf("dom0: plan: %s image=%s mem=%uK target=%uK vcpus=%u/%u args=\"%s\"\n", c->name, c->image,
                  (unsigned)(c->mem_size >> 10), (unsigned)(c->target >> 10), (unsigned)c->vcpus,
                  (unsigned)c->vcpu_slots, c->args);
    }
    if (need_vcpus >= boot_vcpus) {
        pv_printf("dom0: bad command line: plan: the clients' vCPU slots add up to %u, but dom0 holds "
                  "%u and keeps 1; give --vcpus %u or fewer slots\n",
                  (unsigned)need_vcpus, (unsigned)boot_vcpus, (unsigned)(need_vcpus + 1));
        return EXIT_USAGE;
    }
    /*
     * No check that hotplug= finds a free vCPU: the hot client starts below its slots, and all the
     * slots fit beside dom0's one, so the pool keeps at least that difference once they run.
     */

    accounts_t boot;
    if (print_accounts("boot", &boot) != 0)
        return EXIT_FAIL;

    /* Fund: images into the heap first (the balloon takes the top of the free heap). */
    if ((rc = load_images()) != EXIT_OK)
        return rc;
    if ((rc = pv_control_bind_dom_exc(on_dom_exc)) != 0) {
        pv_printf("dom0: binding VIRQ_DOM_EXC failed: error %d\n", rc);
        return EXIT_FAIL;
    }
    uint32_t released = (uint32_t)(need_bytes / FRAME);
    if ((rc = pv_balloon_release(released)) != 0) {
        pv_printf("dom0: cannot fund the plan: releasing %u frames (%uK) of dom0's %uK failed: error %d; "
                  "give more --mem or smaller clients\n",
                  (unsigned)released, (unsigned)(need_bytes >> 10), (unsigned)(si->mem_size >> 10), rc);
        return EXIT_FAIL;
    }
    if ((rc = pv_dom_set_vcpus(PV_DOMID_SELF, 1)) != 0) {
        step_failed("set_vcpus", SELF_NAME, rc);
        pv_balloon_reclaim(released);
        return EXIT_FAIL;
    }
    print_accounts("fund", NULL);

    /* Create them all paused (the accounts show what each was given), then start them. */
    for (uint32_t i = 0; i < nr_clients && !failed; i++) {
        if (create_client(&clients[i]) == 0)
            pv_printf("dom0: created %s as domain %u\n", clients[i].name, (unsigned)clients[i].domid);
    }
    print_accounts("create", NULL);
    for (uint32_t i = 0; i < nr_clients && !failed; i++)
        unpause_client(&clients[i]);

    /* Start: let them boot and balloon down to their targets. */
    if (!failed) {
        run_for(settle_ns);
        wait_until(all_at_target, NULL, "every client to reach its memory target");
        print_accounts("start", NULL);
    }

    if (!failed && have_move >= 0) {
        run_move();
        run_for(settle_ns);
        print_accounts("move", NULL);
    }

    if (!failed && hot != NULL) {
        uint32_t was = hot->vcpus;
        pv_printf("dom0: hotplug: %s vCPUs %u -> %u\n", hot->name, (unsigned)was, (unsigned)(was + 1));
        if (set_client_vcpus(hot, was + 1) == 0) {
            run_for(settle_ns);
            print_accounts("vcpu up", NULL);
            pv_printf("dom0: hotplug: %s vCPUs %u -> %u\n", hot->name, (unsigned)(was + 1), (unsigned)was);
            if (set_client_vcpus(hot, was) == 0) {
                run_for(settle_ns);
                print_accounts("vcpu down", NULL);
            }
        }
    }

    if (!failed && disk_client != NULL)
        run_disk(disk_client, disk_index, settle_ns);

    /* Every injected crash must have happened and been handled before the end. */
    if (!failed)
        wait_until(crashes_handled, NULL, "the clients with crash_at= to crash");

    /* Shutdown: cooperative, then destroy (the frames and vCPUs go back to the pools). */
    for (uint32_t i = 0; i < nr_clients; i++) {
        client_t *c = &clients[i];
        pv_domctl_getinfo_t info;
        if (c->domid == 0 || pv_dom_getinfo(c->domid, &info) != 0 ||
            (info.flags & (PV_DOMINF_SHUTDOWN | PV_DOMINF_DYING)) != 0)
            continue;
        if ((rc = pv_dom_request_shutdown(c->domid, PV_SHUTDOWN_POWEROFF)) != 0)
            step_failed("request_shutdown", c->name, rc);
    }
    /* A client that ignores the request is destroyed anyway after the timeout. */
    uint64_t deadline = pv_time_ns() + timeout_ns;
    while (!all_shut_down(NULL) && pv_time_ns() < deadline)
        pv_sleep_ns(POLL_NS);
    for (uint32_t i = 0; i < nr_clients; i++) {
        client_t *c = &clients[i];
        pv_domctl_getinfo_t info;
        if (c->domid == 0)
            continue;
        if (pv_dom_getinfo(c->domid, &info) == 0) {
            if ((info.flags & PV_DOMINF_SHUTDOWN) != 0)
                pv_printf("dom0: %s (domain %u) shut down (%s, code %d)\n", c->name, (unsigned)c->domid,
                          reason_name(info.shutdown_reason), (int)info.shutdown_code);
            else {
                pv_printf("dom0: %s (domain %u) did not shut down; destroying it\n", c->name, (unsigned)c->domid);
                failed = 1;
            }
        }
        if ((rc = pv_dom_destroy(c->domid)) != 0)
            step_failed("destroy", c->name, rc);
        else
            c->domid = 0;
    }
    print_accounts("shutdown", NULL);

    /* Take everything back. */
    if ((rc = pv_balloon_reclaim(released)) != 0)
        step_failed("balloon reclaim", SELF_NAME, rc);
    if ((rc = pv_dom_set_vcpus(PV_DOMID_SELF, boot_vcpus)) != 0)
        step_failed("set_vcpus", SELF_NAME, rc);
    accounts_t final;
    print_accounts("reclaim", &final);
    if (accounts_equal(&boot, &final)) {
        pv_printf("dom0: final accounts equal the boot accounts\n");
    } else {
        pv_printf("dom0: final accounts differ from the boot accounts\n");
        failed = 1;
    }
    return failed ? EXIT_FAIL : EXIT_OK;
}
