/* SPDX-License-Identifier: MIT */
/* The event channel region in a memfd. */
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pvio/evtchn_host.h>
#include <pvio/host.h>

int pvio_evtchn_host_region_create(uint32_t nr_domains, int *fd, void **mem,
				   size_t *bytes)
{
	size_t need = pvio_evtchn_region_size(nr_domains);
	void *p;
	int f;

	if (need == 0 || !fd || !mem || !bytes)
		return -EINVAL;
	int rc = pvio_shm_create("pvio-evtchn", need, &f, &p);
	if (rc)
		return rc;
	rc = pvio_evtchn_region_init(p, need, nr_domains);
	if (rc) {
		pvio_shm_unmap(p, need);
		close(f);
		return rc;
	}
	*fd = f;
	*mem = p;
	*bytes = need;
	return 0;
}

int pvio_evtchn_host_region_map(int fd, void **mem, size_t *bytes)
{
	struct stat st;
	void *p;

	if (fd < 0 || !mem || !bytes)
		return -EINVAL;
	if (fstat(fd, &st) < 0)
		return -errno;
	if ((size_t)st.st_size < sizeof(struct pvio_evtchn_region))
		return -EINVAL;
	int rc = pvio_shm_map(fd, (size_t)st.st_size, &p);
	if (rc)
		return rc;
	const struct pvio_evtchn_region *r = p;
	if (r->magic != PVIO_EVTCHN_REGION_MAGIC || r->bytes > (uint64_t)st.st_size) {
		pvio_shm_unmap(p, (size_t)st.st_size);
		return -EINVAL;
	}
	*mem = p;
	*bytes = (size_t)st.st_size;
	return 0;
}

int pvio_evtchn_host_region_unmap(void *mem, size_t bytes)
{
	return pvio_shm_unmap(mem, bytes);
}
