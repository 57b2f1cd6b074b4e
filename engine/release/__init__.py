"""From a merged spec change to what each site needs: nothing, configuration, a model
image the running firmware accepts, or a firmware update; and the checks that decide it."""
