-- A crop of an image smaller than asked one way but larger the other (a
-- tall narrow strip) used to be recorded as "serve the original". Such
-- images are now cut to size; forget those records so that they are made
-- again. Images small enough both ways are simply recorded again.
DELETE FROM media_thumbnails WHERE method = 'crop' AND sha256 = source_sha256;
