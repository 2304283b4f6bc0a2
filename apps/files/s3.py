"""The S3 backend of the file store (settings.STORAGES["baas_files"] when BAAS_S3_BUCKET
is set): django-storages' S3Storage, uploading spooled files by their path."""

from __future__ import annotations

from storages.backends.s3 import S3Storage
from storages.utils import clean_name


class BucketStorage(S3Storage):
    def _save(self, name, content):
        # An upload Django spooled to disk goes up by its path: boto3 then streams each
        # part from the file. Given a file object, it reads whole parts into memory
        # first (three 8 MB parts in flight held ~50 MB of a 500 MB upload's RSS).
        path = getattr(content, "temporary_file_path", None)
        if path is None or self.gzip:
            return super()._save(name, content)
        cleaned = clean_name(name)
        key = self._normalize_name(cleaned)
        params = self._get_write_parameters(key, content)
        self.bucket.Object(key).upload_file(
            path(), ExtraArgs=params, Config=self.transfer_config
        )
        return cleaned
