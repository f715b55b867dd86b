'use strict';
// Autocomplete list filters: choosing an object reloads the changelist with
// the filter's parameter set, keeping the other filters and the search.
{
    const $ = django.jQuery;
    $(function() {
        $('select[data-autocomplete-filter]').on('change', function() {
            const url = new URL(this.dataset.clearUrl, window.location.href);
            if (this.value) {
                url.searchParams.set(this.dataset.parameterName, this.value);
            }
            window.location.assign(url.toString());
        });
    });
}
